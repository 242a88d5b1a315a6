// The login page's show-password button (the library's inline script, as a file).
document.getElementById("toggle-password").addEventListener("click", function (e) {
  e.preventDefault();
  var input = document.getElementById("password");
  var shown = input.type === "password";
  input.type = shown ? "text" : "password";
  document.getElementById("icon-eye").classList.toggle("d-none", shown);
  document.getElementById("icon-eye-off").classList.toggle("d-none", !shown);
});

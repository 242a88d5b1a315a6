// A form with data-confirm asks before it is sent (in place of an inline onsubmit handler,
// which the console's Content-Security-Policy does not run).
document.addEventListener("submit", function (e) {
  var form = e.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
});

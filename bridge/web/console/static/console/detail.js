// The library's detail page set-up (its inline script), reading its values from the page's
// JSON block: the console's Content-Security-Policy runs no inline script.
(function () {
  var config = JSON.parse(document.getElementById("console-detail-config").textContent);
  var actionManager = new ActionManager(
    "",
    config.rowActionUrl,
    function (query) {
      query.append("pk", config.pk);
    },
    function (actionName, element, msg) {
      successAlert(msg);
      window.location.reload();
    },
    function (actionName, element, error) {
      dangerAlert(error);
    }
  );
  actionManager.initNoConfirmationActions();
  actionManager.initActionModal();
  if (config.search) {
    $(function () {
      $("#searchInput").on("keyup", function () {
        var value = $(this).val().toLowerCase();
        $("#tableContent tr").filter(function () {
          $(this).toggle($(this).text().toLowerCase().indexOf(value) > -1);
        });
      });
    });
  }
})();

// The library's list page set-up (its inline script), reading its values from the page's JSON
// block: the console's Content-Security-Policy runs no inline script.
(function () {
  var config = JSON.parse(document.getElementById("console-list-config").textContent);
  initListPage(config.list);
  if (config.filterBuilder) initFilterBuilder(config.filterBuilder);
  if (config.importUrl) initImportModal(config.importUrl);
})();

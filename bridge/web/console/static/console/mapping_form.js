// The mapping editor: the pickers fed from the live catalogues, the plan's required fields and
// the margin as the operator types. Its words come from the page (#mapping-form-words), in the
// page's language; a file, not an inline script, for the console's Content-Security-Policy.
(() => {
  const form = document.getElementById("mapping-form");
  const $ = (id) => document.getElementById(id);
  const money = (n) => Math.round(n).toLocaleString("en-US");
  const suggestions = JSON.parse(form.dataset.suggestions);
  const words = JSON.parse($("mapping-form-words").textContent);
  // A word of the page's language, its {name}s filled in from ``values``.
  const say = (key, values = {}) =>
    words[key].replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  let variations = [], plans = [];

  const fill = (picker, rows, value, label, key) => {
    picker.replaceChildren(new Option(say("choose"), ""));
    for (const row of rows) {
      const option = new Option(label(row), String(row[key]));
      option.selected = String(row[key]) === value;
      picker.add(option);
    }
  };
  const load = async (url, status, what) => {
    status.textContent = say("reading");
    try {
      const answer = await fetch(url, {credentials: "same-origin"});
      const body = await answer.json();
      const age = body.age ? say("read_ago", {age: body.age}) : "";
      status.textContent = body.error
        ? say("unreadable_because", {error: body.error})
        : say("listed", {count: body[what].length}) + age;
      if (body.pending) status.dataset.pending = "yes";
      return body[what] || [];
    } catch (e) {
      status.textContent = say("unreadable");
      return [];
    }
  };
  const planName = (p) => (p.product_name && p.product_name !== p.name ? `${p.product_name} — ${p.name}` : p.name);
  const variation = () => variations.find((v) => v.id === $("variation_id").value.trim());
  const plan = () => plans.find((p) => String(p.plan_id) === $("plan_id").value.trim());

  const margin = () => {
    const v = variation(), p = plan(), box = $("margin");
    const units = parseInt($("units").value, 10) || 1;
    box.className = "alert mt-3 mb-0";
    if (!v || !p || v.retail_price === null) {
      box.textContent = say("pick_both");
      return;
    }
    const value = v.retail_price - p.final_price * units;
    box.classList.add(value < 0 ? "alert-danger" : "alert-success");
    box.textContent =
      say("margin", {margin: money(value), price: money(v.retail_price), cost: money(p.final_price), units}) +
      say(value < 0 ? "loss" : "no_loss");
  };
  const planDetails = () => {
    const p = plan(), details = $("plan-details");
    if (!p) { details.textContent = ""; return; }
    const stock = p.is_instant ? say("in_stock", {stock: p.stock}) : say(p.in_stock ? "manual" : "out_of_stock");
    details.textContent = `${planName(p)} · ${money(p.final_price)} · ${stock}`;
    for (const field of p.required) {
      if (form.querySelector(`[data-field="${CSS.escape(field.key)}"]`)) continue;
      const row = document.createElement("div");
      row.className = "mb-2"; row.dataset.field = field.key;
      const label = document.createElement("label");
      label.className = "form-label"; label.htmlFor = `field.${field.key}`;
      label.textContent = say("required", {label: field.label, key: field.key});
      const input = document.createElement("input");
      input.className = "form-control"; input.name = input.id = `field.${field.key}`; input.required = true;
      const hint = Object.entries(suggestions).find(([word]) => field.key.toLowerCase().includes(word));
      input.value = hint ? hint[1] : "";
      input.placeholder = say("placeholder");
      row.append(label, input);
      $("fields").append(row);
    }
  };
  const loadVariations = async () => {
    const url = `${form.dataset.variationsUrl}?shop_id=${encodeURIComponent($("shop_id").value)}`;
    variations = await load(url, $("variation-status"), "variations");
    fill($("variation-picker"), variations, $("variation_id").value.trim(),
      (v) => `${v.label} · ${v.retail_price === null ? say("no_price") : money(v.retail_price)}`, "id");
    margin();
  };
  const loadPlans = async () => {
    const url = `${form.dataset.plansUrl}?supplier_name=${encodeURIComponent($("supplier_name").value)}`;
    const status = $("plan-status");
    delete status.dataset.pending;
    plans = await load(url, status, "plans");
    fill($("plan-picker"), plans, $("plan_id").value.trim(),
      (p) => `${planName(p)} · ${money(p.final_price)}`, "plan_id");
    planDetails(); margin();
    // The workers were asked to read the catalogue: look again shortly, a few times.
    const tries = Number(status.dataset.tries || 0);
    if (status.dataset.pending && tries < 15) {
      status.dataset.tries = String(tries + 1);
      setTimeout(loadPlans, 2000);
    } else {
      status.dataset.tries = "0";
    }
  };

  $("shop_id").addEventListener("change", loadVariations);
  $("supplier_name").addEventListener("change", loadPlans);
  $("variation-picker").addEventListener("change", (e) => {
    $("variation_id").value = e.target.value;
    const v = variation();
    if (v && !$("name").value.trim()) $("name").value = v.label;
    margin();
  });
  $("plan-picker").addEventListener("change", (e) => { $("plan_id").value = e.target.value; planDetails(); margin(); });
  for (const id of ["variation_id", "plan_id", "units"]) $(id).addEventListener("input", () => { planDetails(); margin(); });
  loadVariations(); loadPlans();
})();

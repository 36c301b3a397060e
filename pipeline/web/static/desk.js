// The desk's only script (served by confere; the CSP allows no inline script).
"use strict";

// Copy buttons: data-copy names the field whose value goes to the clipboard.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const text = field.value.replace(/\s+/g, button.dataset.copy === "pix" ? "" : " ").trim();
  try {
    await navigator.clipboard.writeText(text);
  } catch (_err) {
    field.select();
    document.execCommand("copy");
  }
  const before = button.textContent;
  button.textContent = "Copiado";
  setTimeout(() => { button.textContent = before; }, 1500);
});

// An override asks once more before it is sent.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.classList.contains("a-override") &&
      !window.confirm("Liberar o pagamento de uma fatura com sinais de fraude?")) {
    event.preventDefault();
  }
});

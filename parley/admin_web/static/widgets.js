// The chat widget page (F-CH-1): copies the embed snippet to the clipboard. The texts
// come translated on the button's data attributes; without a clipboard (a page over
// plain http on another host) the snippet is selected for the admin to copy.

const button = document.getElementById("copy-snippet");
const snippet = document.getElementById("snippet");
const status = document.getElementById("copy-status");

function selectSnippet() {
  const range = document.createRange();
  range.selectNodeContents(snippet);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

if (button && snippet) {
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(snippet.textContent);
      status.textContent = button.dataset.copied;
    } catch (error) {
      console.warn("Copying the snippet failed:", error.message);
      selectSnippet();
      status.textContent = button.dataset.failed;
    }
  });
}

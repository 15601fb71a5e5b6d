// The model card, from GET /v1/model: what is served and how well it did on MNIST's test set.

function row(facts, term, detail) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = detail;
  facts.append(dt, dd);
}

/** Fill `facts` (a <dl>) from `summary`; the curves picture loads once `curves` is opened,
 * by `fetchPicture(path)` (a data: URL). */
export function showCard(facts, curves, summary, fetchPicture) {
  const card = summary.card;
  facts.replaceChildren();
  row(facts, "Version", `${summary.model} ${summary.version}`);
  if (card.test_accuracy !== undefined) {
    const samples = card.test_samples ? ` of ${card.test_samples.toLocaleString("en")}` : "";
    row(facts, "Test accuracy", `${(card.test_accuracy * 100).toFixed(2)} %${samples} MNIST digits`);
  }
  row(facts, "Parameters", summary.total_parameters.toLocaleString("en"));
  if (card.recipe) {
    const when = card.trained_at ? `, ${card.trained_at.slice(0, 10)}` : "";
    row(facts, "Trained", `recipe ${card.recipe.name}, ${card.epochs} epochs${when}`);
  }
  row(facts, "Default backend", `${summary.default_backend}: ${summary.default_backend_reason}`);
  const picture = curves.querySelector("img");
  const described = picture.alt;
  let loading = false;
  // Each time it is opened until it has loaded: one failed fetch (offline a moment) is not
  // the last word.
  curves.addEventListener("toggle", async () => {
    if (!curves.open || picture.src || loading) return;
    loading = true;
    try {
      picture.src = await fetchPicture(`v1/model/curves.png?version=${summary.version}`);
      picture.alt = described;
    } catch (error) {
      picture.alt = `The training curves could not be loaded: ${error.message}`;
    } finally {
      loading = false;
    }
  });
}

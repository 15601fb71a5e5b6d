// The ten probabilities as a bar chart of buttons: choosing a bar explains that digit.

/** A probability as the page writes it: one decimal, and never 0 % or 100 %. */
export function percent(p) {
  if (p < 0.001) return "< 0.1 %";
  if (p > 0.999) return "> 99.9 %";
  return `${(p * 100).toFixed(1)} %`;
}

export class Bars {
  /** `onChoose(digit)` when a bar is clicked, tapped or pressed with Enter or Space. */
  constructor(container, onChoose) {
    this.bars = [];
    this.buttons = Array.from({ length: 10 }, (_, digit) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.digit = digit;
      const bar = document.createElement("span");
      bar.className = "bar";
      const label = document.createElement("span");
      label.textContent = digit;
      button.append(bar, label);
      button.addEventListener("click", () => onChoose(digit));
      this.bars.push(bar);
      return button;
    });
    container.replaceChildren(...this.buttons);
    this.clear();
  }

  /** Each digit's probability; `predicted` stands out, `explained` is the one pressed. */
  show(probabilities, predicted, explained) {
    this.buttons.forEach((button, digit) => {
      const p = probabilities[digit];
      this.bars[digit].style.setProperty("--p", p);
      button.title = `p(${digit}) = ${percent(p)}; choose it to see why`;
      button.setAttribute("aria-label", `${digit}: ${percent(p)}`);
      button.setAttribute("aria-pressed", digit === explained);
      button.classList.toggle("predicted", digit === predicted);
      button.disabled = false;
    });
  }

  clear() {
    this.buttons.forEach((button, digit) => {
      this.bars[digit].style.setProperty("--p", 0);
      button.removeAttribute("title");
      button.setAttribute("aria-label", `${digit}`);
      button.setAttribute("aria-pressed", false);
      button.classList.remove("predicted");
      button.disabled = true;
    });
  }
}

// Every layer's output as small pictures: a layer of maps (conv1, pool1, conv2, pool2) one
// canvas per channel, a layer of units (conv3, fc1, output) one strip of cells. Hovering,
// tapping or the arrow keys (once a layer has focus) name a map and its values.

import { paintMap } from "./pictures.js";

const number = (value) => value.toFixed(2);

/** One layer on the page: its element, canvases and what it last showed. */
class View {
  constructor(layer) {
    const [height, width, channels] = layer.output_shape;
    this.name = layer.name;
    this.strip = layer.output_shape.length === 1 || (height === 1 && width === 1);
    this.units = layer.output_shape.at(-1);
    // A strip is drawn as one map of 1 × units with one channel.
    this.shape = this.strip ? [1, this.units, 1] : [height, width, channels];
    this.picked = 0;
    this.values = null;

    this.element = document.createElement("figure");
    this.element.className = this.strip ? "layer strip" : "layer";
    this.element.dataset.layer = this.name;
    this.element.tabIndex = 0;
    const what = this.strip ? `${this.units} units` : `${channels} maps of ${height} × ${width}`;
    this.element.setAttribute("aria-label", `${this.name}: ${what}; arrow keys pick one`);
    const caption = document.createElement("figcaption");
    caption.textContent = `${this.name} `;
    const size = document.createElement("small");
    size.textContent = what;
    caption.append(size);
    const maps = document.createElement("div");
    maps.className = "maps";
    if (!this.strip) maps.style.setProperty("--columns", Math.min(channels, 8));
    this.canvases = Array.from({ length: this.strip ? 1 : channels }, (_, channel) => {
      const canvas = document.createElement("canvas");
      canvas.width = this.shape[1];
      canvas.height = this.shape[0];
      canvas.dataset.channel = channel;
      return canvas;
    });
    maps.append(...this.canvases);
    if (this.strip) {
      // The unit picked, over the strip: one cell of 84 or 120 is too thin to outline.
      this.marker = document.createElement("span");
      this.marker.className = "marker";
      this.marker.hidden = true;
      this.marker.style.width = `${100 / this.units}%`;
      maps.append(this.marker);
    }
    this.element.append(caption, maps);
  }

  get count() {
    return this.strip ? this.units : this.canvases.length;
  }

  show(layer) {
    this.values = layer.values;
    this.low = layer.min;
    this.high = layer.max;
    this.canvases.forEach((canvas, channel) =>
      paintMap(canvas, layer.values, this.shape, channel, layer.min, layer.max),
    );
    this.element.dataset.shown = "true";
  }

  clear() {
    this.values = null;
    for (const canvas of this.canvases) {
      canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    }
    delete this.element.dataset.shown;
  }

  /** The map or unit under a pointer event on one of this layer's canvases. */
  indexAt(event) {
    if (!this.strip) return Number(event.target.dataset.channel);
    const shown = event.target.getBoundingClientRect();
    const index = Math.floor(((event.clientX - shown.left) / shown.width) * this.units);
    return Math.min(this.units - 1, Math.max(0, index));
  }

  /** Layer, channel, shape and values of map (or unit) `index`. */
  describe(index) {
    const [height, width, channels] = this.shape;
    if (this.strip) {
      const value = this.values ? `: ${number(this.values[index])}` : "";
      const range = this.values ? `; the layer from ${number(this.low)} to ${number(this.high)}` : "";
      return `${this.name}, unit ${index} (0–${this.units - 1})${value}${range}`;
    }
    let range = "";
    if (this.values) {
      let low = Infinity;
      let high = -Infinity;
      for (let i = index; i < this.values.length; i += channels) {
        low = Math.min(low, this.values[i]);
        high = Math.max(high, this.values[i]);
      }
      range = `, values from ${number(low)} to ${number(high)}`;
    }
    return `${this.name}, channel ${index} (0–${channels - 1}): ${height} × ${width}${range}`;
  }

  pick(index) {
    this.picked = (index + this.count) % this.count;
    this.canvases.forEach((canvas, channel) =>
      canvas.classList.toggle("picked", !this.strip && channel === this.picked),
    );
    if (this.strip) {
      this.marker.hidden = false;
      this.marker.style.left = `${(100 * this.picked) / this.units}%`;
    }
  }
}

const KEYS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };

export class Layers {
  /** `layers`: /v1/model's layer table; `info`: where a map's description goes. */
  constructor(container, info, layers) {
    this.info = info;
    this.described = null;
    // Flatten is conv3's units again, in a row.
    this.views = layers.filter((layer) => layer.type !== "Flatten").map((layer) => new View(layer));
    container.replaceChildren(...this.views.map((view) => view.element));
    this.views.forEach((view) => this.listen(view));
  }

  listen(view) {
    const point = (event) => {
      if (event.target.tagName === "CANVAS") this.describe(view, view.indexAt(event));
    };
    view.element.addEventListener("pointermove", point);
    view.element.addEventListener("pointerdown", point);
    view.element.addEventListener("focus", () => this.describe(view, view.picked));
    view.element.addEventListener("keydown", (event) => {
      const step = KEYS[event.key];
      if (step === undefined) return;
      event.preventDefault();
      this.describe(view, view.picked + step);
    });
  }

  describe(view, index) {
    view.pick(index);
    this.described = view;
    this.info.textContent = view.describe(view.picked);
  }

  /** The API's layers (each with `values`, a Float32Array) on their views. */
  show(layers) {
    const byName = new Map(layers.map((layer) => [layer.name, layer]));
    for (const view of this.views) view.show(byName.get(view.name));
    if (this.described) this.describe(this.described, this.described.picked);
  }

  clear() {
    for (const view of this.views) view.clear();
    if (this.described) this.describe(this.described, this.described.picked);
  }
}

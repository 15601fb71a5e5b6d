// The drawing pad: a felt pen's strokes, dark on white paper, as a photo of paper would be.
// The strokes are kept as points so that undo can draw the others again.

import { onPaper } from "./pictures.js";

const PAPER = "#fff";
const INK = "#111";
const MARGIN = 0.1; // the paper around the pad's drawing as sent, as a share of its side

export class Pad {
  /** `onStroke(ended)` is called with false as a stroke starts and true as it ends. */
  constructor(canvas, onStroke) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.onStroke = onStroke;
    this.strokes = [];
    this.current = null;
    this.pointer = null; // the pointer drawing the current stroke
    canvas.addEventListener("pointerdown", (event) => this.start(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.end(event));
    canvas.addEventListener("pointercancel", (event) => this.end(event));
    canvas.addEventListener("lostpointercapture", (event) => this.end(event));
    this.redraw();
  }

  get empty() {
    return this.strokes.length === 0;
  }

  undo() {
    this.strokes.pop();
    this.redraw();
  }

  clear() {
    this.strokes = [];
    this.redraw();
  }

  /** The drawing as a PNG file, as a drawing app would export it, on a margin of paper: the
   * API reads it as a photo, where ink that runs into the frame is the sheet's edge or the
   * desk, not the digit, and a stroke drawn to the pad's edge would be dropped. */
  toFile() {
    const { width, height } = this.canvas;
    const margin = Math.round(width * MARGIN);
    const sheet = [width + 2 * margin, height + 2 * margin];
    return onPaper(this.canvas, sheet, [margin, margin, width, height], "drawing.png");
  }

  /** A stroke follows the pointer that began it: a second finger on the pad, or a palm,
   * draws nothing, where its points would have joined the first finger's in one line. */
  start(event) {
    if (event.button !== 0) return; // the main button, a pen's tip, a finger
    event.preventDefault();
    if (this.current) return;
    this.pointer = event.pointerId;
    this.canvas.setPointerCapture(event.pointerId);
    this.current = [this.point(event)];
    this.strokes.push(this.current);
    this.draw(this.current);
    this.onStroke(false);
  }

  move(event) {
    if (!this.current || event.pointerId !== this.pointer) return;
    const from = this.current.length - 1;
    for (const each of event.getCoalescedEvents?.() ?? [event]) this.current.push(this.point(each));
    this.draw(this.current.slice(from));
  }

  end(event) {
    if (!this.current || event.pointerId !== this.pointer) return;
    this.current = null;
    this.onStroke(true);
  }

  /** An event's position in the canvas's own pixels, whatever size CSS shows it at. */
  point(event) {
    const shown = this.canvas.getBoundingClientRect();
    return [
      ((event.clientX - shown.left) * this.canvas.width) / shown.width,
      ((event.clientY - shown.top) * this.canvas.height) / shown.height,
    ];
  }

  draw(points) {
    const context = this.context;
    context.beginPath();
    context.moveTo(...points[0]);
    for (const [x, y] of points.slice(1)) context.lineTo(x, y);
    if (points.length === 1) context.lineTo(points[0][0] + 0.1, points[0][1]); // a dot
    context.stroke();
  }

  redraw() {
    const context = this.context;
    context.fillStyle = PAPER;
    context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    context.strokeStyle = INK;
    context.lineWidth = this.canvas.width / 15; // a felt pen: about a tenth of a digit's height
    context.lineCap = "round";
    context.lineJoin = "round";
    for (const stroke of this.strokes) this.draw(stroke);
  }
}

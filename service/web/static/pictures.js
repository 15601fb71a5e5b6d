// Numbers to pixels, drawn as the API's own pictures are (service/api/pictures.py): feature
// maps in gray on their layer's scale, the input as MNIST has it, the saliency map in red
// and blue over the dimmed digit. Each canvas holds one pixel per value; CSS scales it up.

const RAISES = [230, 40, 30]; // where more ink would raise the digit's probability
const LOWERS = [30, 110, 240]; // where it would lower it
const OPACITY = 0.8; // at the largest |gradient|: the digit always shows through
const PHOTO_SIDE = 560; // pixels: sharp at twice the 280 px the page shows it at

/** Fill `canvas`, resized to width × height, with `color(i)` = [r, g, b] of pixel i. */
function paint(canvas, width, height, color) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) image.data.set([...color(i), 255], i * 4);
  context.putImageData(image, 0, 0);
}

/** One channel of a channels-last (height, width, channels) output: `low` black, `high` white. */
export function paintMap(canvas, values, [height, width, channels], channel, low, high) {
  const scale = high > low ? 255 / (high - low) : 0;
  paint(canvas, width, height, (i) => {
    const level = (values[i * channels + channel] - low) * scale;
    return [level, level, level];
  });
}

/** The 28 × 28 the network saw, values in [0, 1]: light digit on black. */
export function paintInput(canvas, rows) {
  const values = rows.flat();
  paint(canvas, 28, 28, (i) => {
    const level = values[i] * 255;
    return [level, level, level];
  });
}

/** The saliency map: d p[digit] / d input over the input, both 28 × 28. */
export function paintSaliency(canvas, rows, gradient) {
  const values = rows.flat();
  const peak = gradient.reduce((top, g) => Math.max(top, Math.abs(g)), 0);
  paint(canvas, 28, 28, (i) => {
    const strength = peak > 0 ? gradient[i] / peak : 0;
    const gray = 40 + 140 * values[i];
    const color = strength > 0 ? RAISES : LOWERS;
    const opacity = OPACITY * Math.abs(strength);
    return color.map((c) => gray * (1 - opacity) + c * opacity);
  });
}

/** A photo at most `PHOTO_SIDE` pixels on its long side, and its `box` ([x, y, width, height] in
 * the photo's own pixels) in red. */
export function paintPhoto(canvas, bitmap, box) {
  const scale = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  if (!box) return;
  const [x, y, width, height] = box.map((v) => v * scale);
  context.lineWidth = 4;
  context.strokeStyle = "#e8261e";
  context.strokeRect(x, y, width, height);
}

/** A PNG file of a `width` × `height` sheet of white paper with `source` drawn on it at `at`
 * ([x, y, width, height]): white under what it leaves uncovered and under its transparent
 * pixels. Rejects where the browser cannot encode it. */
export function onPaper(source, [width, height], at, name) {
  const [sheet, context] = blankCanvas(width, height);
  context.fillStyle = "#fff";
  context.fillRect(0, 0, width, height);
  context.drawImage(source, ...at);
  return encoded(sheet, "image/png", name);
}

/** `source` drawn at `width` × `height`, as a JPEG; as a PNG where any of it is transparent,
 * which a JPEG cannot keep and the API reads as it reads the image sent: light ink on a
 * transparent sheet would vanish on white paper. */
export function scaled(source, [width, height]) {
  const [canvas, context] = blankCanvas(width, height);
  context.drawImage(source, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height).data;
  for (let alpha = 3; alpha < pixels.length; alpha += 4) {
    if (pixels[alpha] < 255) return encoded(canvas, "image/png", "photo.png");
  }
  return encoded(canvas, "image/jpeg", "photo.jpg");
}

/** A transparent canvas of that size, and its context, drawing images at high quality. */
function blankCanvas(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.imageSmoothingQuality = "high";
  return [canvas, context];
}

/** `canvas` as a File of `type`; rejects where the browser cannot encode it. */
function encoded(canvas, type, name) {
  return new Promise((resolve, reject) => {
    const done = (blob) =>
      blob ? resolve(new File([blob], name, { type: blob.type })) : reject(new Error(`no ${type}`));
    canvas.toBlob(done, type, 0.92);
  });
}

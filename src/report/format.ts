/** Text helpers shared by the HTML pieces. */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escape text for HTML element content and quoted attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** A number with fixed digits, or an en dash when absent. */
export function fmt(x: number | undefined, digits = 3): string {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

/**
 * Diverging heat colour of a value scaled by `scale` (> 0): green for positive, red for negative, opacity
 * proportional to |value| / scale (transparent at 0).
 */
export function heatColour(value: number | undefined, scale: number): string {
  if (value === undefined || !Number.isFinite(value) || scale <= 0) return 'transparent';
  const t = Math.max(-1, Math.min(1, value / scale));
  const [r, g, b] = t >= 0 ? [46, 160, 67] : [214, 48, 49];
  return `rgba(${r}, ${g}, ${b}, ${(0.7 * Math.abs(t)).toFixed(3)})`;
}

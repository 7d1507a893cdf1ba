/** Number and value formatting shared by the widgets. Never returns markup. */

export const DASH = "\u2014";

export function isNum(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/** Fixed-point with `digits` decimals; "—" for null/undefined/NaN. */
export function fmtNum(x: unknown, digits = 3): string {
  if (!isNum(x)) return DASH;
  const s = x.toFixed(digits);
  // Avoid "-0.000" for tiny negative values.
  return Number(s) === 0 ? (0).toFixed(digits) : s;
}

/** Like fmtNum but always signed ("+0.120", "−0.300"). */
export function fmtSigned(x: unknown, digits = 3): string {
  if (!isNum(x)) return DASH;
  const s = Math.abs(x).toFixed(digits);
  if (Number(s) === 0) return s;
  return (x > 0 ? "+" : "\u2212") + s;
}

/** "3 / 10" for 0-based index 2 and total 10; "0 / 0" when empty. */
export function fmtPosition(index: number, total: number): string {
  if (total <= 0) return "0 / 0";
  return `${index + 1} / ${total}`;
}

/** Epoch seconds (or ms) → "YYYY-MM-DD HH:MM:SS" in local time; "" when absent. */
export function fmtTime(x: unknown): string {
  if (!isNum(x) || x <= 0) return "";
  const d = new Date(x < 1e12 ? x * 1000 : x);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

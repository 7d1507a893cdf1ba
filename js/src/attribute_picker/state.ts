/** What the AttributePicker reads from its model, and the selection it sends back. */
import type { AttributePickerState, PickerAttribute } from "../lib/contract";
import { commit, getArray, type AnyModel } from "../lib/model";

export type Model = AnyModel<AttributePickerState>;

export function attributes(model: Model): PickerAttribute[] {
  return getArray(model, "attributes")
    .filter((a) => a && typeof a === "object")
    .map((a) => ({ name: String(a.name ?? ""), definition: String(a.definition ?? ""), custom: !!a.custom }));
}

export function selected(model: Model): string[] {
  return getArray(model, "selected").map((s) => String(s));
}

/** Send `names` as the selection, in display order (unknown names last; Python drops them). */
export function setSelected(model: Model, names: Set<string>): void {
  const order = attributes(model).map((a) => a.name);
  const next = order.filter((n) => names.has(n));
  for (const n of names) if (!order.includes(n)) next.push(n);
  commit(model, { selected: next });
}

export function toggle(model: Model, name: string): void {
  const s = new Set(selected(model));
  if (s.has(name)) s.delete(name);
  else s.add(name);
  setSelected(model, s);
}

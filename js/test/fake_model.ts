/** A minimal stand-in for the anywidget model: get/set/save_changes/on/off/send. */
import type { AnyModel, State, WidgetProps } from "../src/lib/model";

type Callback = (...args: any[]) => void;

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** Untyped state on purpose (tests put what the contract forbids in it), same methods as anywidget's. */
export class FakeModel implements Omit<AnyModel, "widget_manager"> {
  state: Record<string, unknown>;
  listeners = new Map<string, Set<Callback>>();
  sent: unknown[] = [];
  saves = 0;
  /** Trait names set since the last save_changes(), recorded at each save. */
  saved: Array<Record<string, unknown>> = [];
  private pending: Record<string, unknown> = {};

  constructor(state: Record<string, unknown> = {}) {
    this.state = structuredClone(state);
  }

  get(name: string): any {
    return this.state[name];
  }

  /** Like Backbone: change:<name> fires only when the value actually changes. */
  set(name: string, value: unknown): void {
    const old = this.state[name];
    this.state[name] = value;
    this.pending[name] = value;
    if (!same(old, value)) this.emit(`change:${name}`, value);
  }

  save_changes(): void {
    this.saves += 1;
    this.saved.push(this.pending);
    this.pending = {};
  }

  on(event: string, cb: Callback): void {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)!.add(cb);
  }

  off(event?: string | null, cb?: Callback | null): void {
    if (!event) {
      this.listeners.clear();
      return;
    }
    if (!cb) this.listeners.delete(event);
    else this.listeners.get(event)?.delete(cb);
  }

  send(content: unknown): void {
    this.sent.push(structuredClone(content));
  }

  emit(event: string, ...args: unknown[]): void {
    for (const cb of [...(this.listeners.get(event) ?? [])]) cb(...args);
  }

  /** Simulate Python updating a trait (same as set, without recording a save). */
  pythonSet(name: string, value: unknown): void {
    const old = this.state[name];
    this.state[name] = value;
    if (!same(old, value)) this.emit(`change:${name}`, value);
  }

  listenerCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }
}

export interface Widget<S extends State> {
  render(props: WidgetProps<S>): () => void;
}

export function mount<S extends State>(widget: Widget<S>, state: Record<string, unknown>) {
  const el = document.createElement("div");
  document.body.appendChild(el);
  const model = new FakeModel(state);
  const cleanup = widget.render({ model: model as unknown as AnyModel<S>, el });
  const q = (testid: string) => el.querySelector<HTMLElement>(`[data-testid="${testid}"]`);
  const qa = (testid: string) => Array.from(el.querySelectorAll<HTMLElement>(`[data-testid="${testid}"]`));
  return {
    el,
    model,
    q,
    qa,
    cleanup: () => {
      cleanup();
      el.remove();
    },
  };
}

export function click(el: Element | null): void {
  if (!el) throw new Error("element not found");
  (el as HTMLElement).click();
}

export function key(target: Element, k: string): void {
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
}

export function changeSelect(el: Element | null, value: string): void {
  if (!(el instanceof HTMLSelectElement)) throw new Error("not a select");
  el.value = value;
  el.dispatchEvent(new Event("change", { bubbles: true }));
}

export function typeInto(el: Element | null, value: string): void {
  if (!(el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement)) throw new Error("not an input");
  el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
}

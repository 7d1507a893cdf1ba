/**
 * A tiny DOM builder. Text only ever enters the document through
 * document.createTextNode / textContent, so model text can never become markup.
 * Attributes that could execute code or load URLs (on*, href, src, ...) are refused.
 */

export type Child = Node | string | number | null | undefined | false | Child[];

export interface Props {
  class?: string | Array<string | false | null | undefined>;
  testid?: string;
  title?: string;
  /** Plain attributes (aria-*, role, type, tabindex, data-*, ...); null/false/undefined = omitted. */
  attrs?: Record<string, string | number | boolean | null | undefined>;
  /** DOM event listeners; they die with the element when the subtree is rebuilt. */
  on?: { [K in keyof HTMLElementEventMap]?: (ev: HTMLElementEventMap[K]) => void };
  /** For <input>/<textarea>/<select>: the value property. */
  value?: string;
  disabled?: boolean;
}

const FORBIDDEN_ATTR = /^(on|href$|src$|srcdoc$|srcset$|action$|formaction$|xlink:href$|style$)/i;

export function setAttr(el: Element, name: string, value: string | number | boolean | null | undefined): void {
  if (FORBIDDEN_ATTR.test(name)) {
    throw new Error(`rmx: refusing to set attribute ${name}`);
  }
  if (value === null || value === undefined || value === false) return;
  el.setAttribute(name, value === true ? "" : String(value));
}

export function appendChildren(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) {
      appendChildren(el, child);
    } else if (typeof child === "string" || typeof child === "number") {
      el.appendChild(document.createTextNode(String(child)));
    } else {
      el.appendChild(child);
    }
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    if (props.class) {
      const cls = Array.isArray(props.class) ? props.class.filter(Boolean).join(" ") : props.class;
      if (cls) el.className = cls;
    }
    if (props.testid) el.setAttribute("data-testid", props.testid);
    if (props.title !== undefined && props.title !== "") el.title = props.title;
    if (props.attrs) {
      for (const [name, value] of Object.entries(props.attrs)) setAttr(el, name, value);
    }
    if (props.on) {
      for (const [type, fn] of Object.entries(props.on)) {
        if (fn) el.addEventListener(type, fn as EventListener);
      }
    }
    if (props.value !== undefined && "value" in el) {
      (el as unknown as { value: string }).value = props.value;
    }
    if (props.disabled !== undefined && "disabled" in el) {
      (el as unknown as { disabled: boolean }).disabled = props.disabled;
    }
  }
  appendChildren(el, children);
  return el;
}

/** A text node; the only way model text is put into the page. */
export function text(value: unknown): Text {
  return document.createTextNode(value === null || value === undefined ? "" : String(value));
}

/** A <select> with plain-text options. */
export function select(
  props: Props,
  options: Array<{ value: string; label: string }>,
  current: string,
): HTMLSelectElement {
  const el = h(
    "select",
    props,
    options.map((o) => {
      const opt = h("option", null, o.label);
      opt.value = o.value;
      if (o.value === current) opt.selected = true;
      return opt;
    }),
  );
  el.value = current;
  return el;
}

function focusKey(el: Element | null, root: Element): string | null {
  if (!el || el === root || !root.contains(el)) return null;
  const id = el.getAttribute("data-testid");
  if (!id) return null;
  const extra = el.getAttribute("data-name") ?? el.getAttribute("data-tag") ?? "";
  return `${id}\u0000${extra}`;
}

/**
 * Replace the whole subtree of `root` with `build()`, keeping keyboard focus on the
 * equivalent element (same data-testid/data-name/data-tag) or on the root itself.
 */
export function rebuild(root: HTMLElement, build: () => Child): void {
  const doc = root.ownerDocument;
  const active = doc.activeElement;
  const hadFocus = !!active && (active === root || root.contains(active));
  const key = focusKey(active, root);
  let selStart: number | null = null;
  if (active && (active instanceof HTMLInputElement || active instanceof HTMLTextAreaElement)) {
    selStart = active.selectionStart;
  }
  root.replaceChildren();
  appendChildren(root, [build()]);
  if (!hadFocus) return;
  let target: HTMLElement | null = null;
  if (key) {
    for (const cand of Array.from(root.querySelectorAll<HTMLElement>("[data-testid]"))) {
      if (focusKey(cand, root) === key) {
        target = cand;
        break;
      }
    }
  }
  if (target && !(target as HTMLButtonElement).disabled) {
    target.focus({ preventScroll: true });
    if (selStart !== null && (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement)) {
      try {
        target.setSelectionRange(selStart, selStart);
      } catch {
        /* not all input types support selection */
      }
    }
  } else if (root.tabIndex >= 0) {
    root.focus({ preventScroll: true });
  }
}

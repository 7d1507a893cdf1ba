/**
 * Edit and rescore (LIT's datapoint editor): Edit buttons on the original responses and on
 * each rewrite, "Write a rewrite" (attribute + side), a textarea, and the rescored edits shown
 * in place. The text being typed stays here (no round trip per key); Rescore sends one
 * RescoreMessage and Python rescores on a worker thread, answering with `edit_busy`,
 * `edit_status` / `edit_error` and `edits_shown`. Text only ever enters the page as text.
 */
import type { EditKind, Preferred, RescoreMessage, Row, ShownEdit, Side } from "../lib/contract";
import { wordDiff } from "../lib/diff";
import { h, select, type Child } from "../lib/dom";
import { DASH, fmtNum, fmtSigned, isNum } from "../lib/format";
import { getArray, getInt, getString } from "../lib/model";
import { badge, directionLabel, outcomeOf, pill, rewardSummary, segmentsToNodes } from "../lib/rows";
import type { Model } from "./state";

/** What Python rescores at most (core.rescore.MAX_EDIT_CHARS); the textarea stops there. */
export const MAX_EDIT_CHARS = 20000;

export type EditTarget =
  | { kind: "original"; response: Preferred }
  | { kind: "rewrite"; rowId: number }
  | { kind: "write" };

/** The editor's local state, kept across re-renders (like the prompt's expanded flag). */
export interface EditorView {
  target: EditTarget | null;
  comparisonId: string;
  draft: string;
  attribute: string;
  side: Side;
  /** A rescore was sent and its answer has not come back yet. */
  pending: boolean;
  draw(): void;
}

export function newEditor(draw: () => void): EditorView {
  return { target: null, comparisonId: "", draft: "", attribute: "", side: "chosen", pending: false, draw };
}

export const canEdit = (model: Model): boolean => model.get("can_edit") === true;
const busy = (model: Model): boolean => model.get("edit_busy") === true;

/** The rescored edits of the comparison on screen (records Python sent; fields may be missing). */
export function editsShown(model: Model): Array<Partial<ShownEdit>> {
  return getArray(model, "edits_shown").filter((e) => e && typeof e === "object" && e.row && typeof e.row === "object");
}

/** The latest edit of `kind` matching `test`, or null. */
function latest(model: Model, kind: EditKind, test: (e: Partial<ShownEdit>) => boolean): Partial<ShownEdit> | null {
  const all = editsShown(model).filter((e) => e.kind === kind && test(e));
  return all.length ? all[all.length - 1] : null;
}

export function sameTarget(a: EditTarget | null, b: EditTarget): boolean {
  if (!a || a.kind !== b.kind) return false;
  if (a.kind === "original" && b.kind === "original") return a.response === b.response;
  if (a.kind === "rewrite" && b.kind === "rewrite") return a.rowId === b.rowId;
  return true;
}

/** Whether the editor is open on `target` of comparison `cid`. */
export function editing(view: EditorView, target: EditTarget, cid: string): boolean {
  return view.comparisonId === cid && sameTarget(view.target, target);
}

/** Called before each render: an answered rescore closes its editor unless it failed (the
 * draft then stays, to be fixed); another comparison on screen closes it too. */
export function settle(model: Model, view: EditorView, cid: string): void {
  if (view.target && view.comparisonId !== cid) view.target = null;
  if (view.pending && !busy(model)) {
    view.pending = false;
    if (getString(model, "edit_error") === "") view.target = null;
  }
}

function open(view: EditorView, target: EditTarget, cid: string, text: string): void {
  view.target = target;
  view.comparisonId = cid;
  view.draft = text;
  view.draw();
}

/** An Edit button (nothing when this view cannot rescore: the status line says why). */
export function editButton(model: Model, view: EditorView, target: EditTarget, cid: string, text: string, testid: string): Child {
  if (!canEdit(model) || editing(view, target, cid)) return null;
  return h(
    "button",
    {
      class: "rmx-btn rmx-btn-small",
      testid,
      title: "Edit this text and rescore it with the reward model",
      attrs: { type: "button" },
      on: { click: () => open(view, target, cid, text) },
    },
    "Edit",
  );
}

function send(model: Model, view: EditorView): void {
  const t = view.target;
  if (!t) return;
  const message: RescoreMessage = {
    type: "rescore",
    kind: t.kind,
    comparison_id: view.comparisonId,
    row_id: t.kind === "rewrite" ? t.rowId : -1,
    response: t.kind === "original" ? t.response : "",
    attribute: t.kind === "write" ? view.attribute : "",
    side: t.kind === "write" ? view.side : "",
    text: view.draft,
  };
  view.pending = true;
  model.send(message);
}

const SIDES: Array<{ value: Side; label: string }> = [
  { value: "chosen", label: "Chosen (rewritten worse)" },
  { value: "rejected", label: "Rejected (rewritten better)" },
];

/** The open editor: (for a written rewrite) attribute and side pickers, the textarea, Rescore. */
export function editor(model: Model, view: EditorView): Child {
  const t = view.target;
  if (!t) return null;
  const attrs = getArray(model, "edit_attributes").map((a) => String(a ?? "")).filter((a) => a !== "");
  if (t.kind === "write" && !attrs.includes(view.attribute)) view.attribute = attrs[0] ?? "";
  const pickers =
    t.kind === "write"
      ? h(
          "div",
          { class: "rmx-filters" },
          h(
            "label",
            { class: "rmx-filter" },
            "Attribute ",
            select(
              { testid: "rmx-edit-attribute", on: { change: (e) => (view.attribute = (e.target as HTMLSelectElement).value) } },
              attrs.map((a) => ({ value: a, label: a })),
              view.attribute,
            ),
          ),
          h(
            "label",
            { class: "rmx-filter" },
            "Side ",
            select(
              { testid: "rmx-edit-side", on: { change: (e) => (view.side = (e.target as HTMLSelectElement).value as Side) } },
              SIDES,
              view.side,
            ),
          ),
        )
      : null;
  const what = t.kind === "original" ? `response ${t.response.toUpperCase()}` : t.kind === "rewrite" ? "this rewrite" : "a new rewrite";
  return h(
    "div",
    { class: "rmx-editor", testid: "rmx-editor" },
    pickers,
    h("textarea", {
      class: "rmx-edit-text",
      testid: "rmx-edit-text",
      value: view.draft,
      attrs: { rows: 5, maxlength: MAX_EDIT_CHARS, "aria-label": `Text of ${what}`, spellcheck: "false" },
      on: { input: (e) => (view.draft = (e.target as HTMLTextAreaElement).value) },
    }),
    h(
      "div",
      { class: "rmx-editor-actions" },
      h(
        "button",
        {
          class: "rmx-btn rmx-btn-primary",
          testid: "rmx-rescore",
          title: "Score the edited text with the reward model (in the background)",
          attrs: { type: "button" },
          disabled: busy(model),
          on: { click: () => send(model, view) },
        },
        "Rescore",
      ),
      h(
        "button",
        {
          class: "rmx-btn",
          testid: "rmx-edit-cancel",
          attrs: { type: "button" },
          on: {
            click: () => {
              view.target = null;
              view.pending = false;
              view.draw();
            },
          },
        },
        "Cancel",
      ),
    ),
  );
}

/** The edit line above the rewrites: Write a rewrite, the spinner and status, or the error
 * (one line, as text); without an RM, why editing is not offered (also in the tooltip). */
export function editBar(model: Model, view: EditorView, cid: string): Child {
  if (!canEdit(model)) {
    const why = getString(model, "edit_unavailable") || "Edit and rescore is not available here.";
    return h("div", { class: "rmx-edit-bar" }, h("span", { class: "rmx-muted", testid: "rmx-edit-unavailable", title: why }, "Edit and rescore: unavailable (hover for why)"));
  }
  const error = getString(model, "edit_error");
  const status = getString(model, "edit_status");
  const n = getInt(model, "n_edits", 0);
  const writing = editing(view, { kind: "write" }, cid);
  return h(
    "div",
    { class: "rmx-edit-bar" },
    writing
      ? null
      : h(
          "button",
          {
            class: "rmx-btn",
            testid: "rmx-write-rewrite",
            title: "Write a rewrite by hand for an attribute and side, and rescore it",
            attrs: { type: "button" },
            on: { click: () => open(view, { kind: "write" }, cid, "") },
          },
          "Write a rewrite",
        ),
    busy(model) ? h("span", { class: "rmx-spinner", testid: "rmx-edit-spinner", attrs: { role: "status", "aria-label": "rescoring" } }) : null,
    error
      ? h("span", { class: "rmx-error", testid: "rmx-edit-error", attrs: { role: "alert" } }, `Rescore failed: ${error}`)
      : status
        ? h("span", { class: "rmx-muted", testid: "rmx-edit-status" }, status)
        : null,
    n > 0 ? h("span", { class: "rmx-muted", testid: "rmx-edit-count" }, `${n} edit${n === 1 ? "" : "s"} (view.edits in Python)`) : null,
    writing ? editor(model, view) : null,
  );
}

function undoButton(model: Model, edit: Partial<ShownEdit>): Child {
  const id = edit.edit_id;
  if (!isNum(id)) return null;
  return h(
    "button",
    {
      class: "rmx-btn rmx-btn-small",
      testid: "rmx-undo-edit",
      title: "Drop this edit",
      attrs: { type: "button" },
      disabled: busy(model),
      on: { click: () => model.send({ type: "undo", edit_id: id }) },
    },
    "Undo",
  );
}

/** The original response and the edited text side by side, the word diff marked (lib/diff). */
function editDiff(row: Partial<Row>, label: string): Child {
  const d = wordDiff(row.original ?? "", row.perturbed ?? "");
  return h(
    "div",
    { class: "rmx-cols" },
    h("div", { class: "rmx-col" }, h("div", { class: "rmx-col-label" }, "Original"), h("div", { class: "rmx-text" }, segmentsToNodes(d.original))),
    h("div", { class: "rmx-col" }, h("div", { class: "rmx-col-label" }, label), h("div", { class: "rmx-text", testid: "rmx-edited-text" }, segmentsToNodes(d.perturbed))),
  );
}

/** A rescored rewrite (edited or hand-written): its outcome, the diff against the original
 * response, rewards and margins, labelled as an edit. */
export function editedRewrite(model: Model, edit: Partial<ShownEdit>): Child {
  const row = (edit.row ?? {}) as Partial<Row>;
  const written = edit.kind === "write";
  return h(
    "div",
    { class: "rmx-edited", testid: written ? "rmx-written" : "rmx-edited" },
    h(
      "div",
      { class: "rmx-card-head" },
      pill(written ? "hand-written" : "edited", "edited", "Rescored by hand: not the perturber's rewrite"),
      badge(outcomeOf(row)),
      written ? [h("span", { class: "rmx-attribute" }, String(row.attribute ?? "")), h("span", { class: "rmx-direction" }, directionLabel(row.direction)), h("span", { class: "rmx-side" }, `${String(row.side ?? "")} response`)] : null,
      undoButton(model, edit),
    ),
    editDiff(row, written ? "Hand-written" : "Edited"),
    rewardSummary(row),
    edit.note ? h("div", { class: "rmx-muted rmx-edit-note" }, String(edit.note)) : null,
  );
}

/** The latest edit of rewrite `rowId`, shown inside its card. */
export function editOfRow(model: Model, rowId: unknown): Partial<ShownEdit> | null {
  return latest(model, "rewrite", (e) => e.target_row === rowId);
}

/** The hand-written rewrites of the comparison on screen, newest last. */
export function writtenEdits(model: Model): Array<Partial<ShownEdit>> {
  return editsShown(model).filter((e) => e.kind === "write");
}

/** The latest edit of original response `which`, shown inside its column. */
export function editOfResponse(model: Model, which: Preferred): Partial<ShownEdit> | null {
  return latest(model, "original", (e) => e.response === which);
}

/** An edited original response: the diff against the original, its reward and outcome. */
export function editedResponse(model: Model, edit: Partial<ShownEdit>): Child {
  const row = (edit.row ?? {}) as Partial<Row>;
  const d = wordDiff(row.original ?? "", row.perturbed ?? "");
  return h(
    "div",
    { class: "rmx-edited", testid: "rmx-edited-response" },
    h(
      "div",
      { class: "rmx-card-head" },
      pill("edited", "edited", "This response edited by hand and rescored"),
      badge(outcomeOf(row)),
      h("span", { class: "rmx-metric" }, `reward ${fmtNum(row.reward_original)} \u2192 ${fmtNum(row.reward_perturbed)}`),
      h("span", { class: "rmx-metric" }, `margin ${fmtSigned(row.margin_before)} \u2192 ${isNum(row.margin_after) ? fmtSigned(row.margin_after) : DASH}`),
      undoButton(model, edit),
    ),
    h("div", { class: "rmx-text", testid: "rmx-edited-text" }, segmentsToNodes(d.segments)),
    edit.note ? h("div", { class: "rmx-muted rmx-edit-note" }, String(edit.note)) : null,
  );
}

/** Inside a rewrite's card: its outcome re-derived against the latest edited original. */
export function rederived(model: Model, rowId: unknown): Child {
  // only the latest edited original counts: an edit that flipped the pair re-derives nothing
  const edit = latest(model, "original", () => true);
  const rows = edit && Array.isArray(edit.rederived) ? (edit.rederived as Array<Partial<Row>>) : [];
  const r = rows.find((x) => x && x.row_id === rowId);
  if (!edit || !r) return null;
  return h(
    "div",
    { class: "rmx-rederived", testid: "rmx-rederived" },
    h("span", { class: "rmx-muted" }, `With edited response ${String(edit.response ?? "").toUpperCase()}: `),
    badge(outcomeOf(r)),
    h("span", { class: "rmx-metric" }, `margin ${fmtSigned(r.margin_before)} \u2192 ${isNum(r.margin_after) ? fmtSigned(r.margin_after) : DASH}`),
  );
}

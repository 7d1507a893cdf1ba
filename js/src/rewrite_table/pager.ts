/**
 * Pages from the kernel: each request is a PageRequestMessage with a fresh request_id, and the
 * reply (a PageReply custom message with the same id) settles its promise. Replies are checked
 * field by field (the kernel, or a user poking at the model, can send anything); a request the
 * kernel does not answer in `timeoutMs` settles as an error instead of hanging the grid.
 */
import type { AnyModel, State } from "../lib/model";
import type { PageReply, PageRequestMessage, TableFilters, SortKey, TableRow } from "../lib/contract";

export interface PageResult {
  rows: TableRow[];
  page: number;
  lastPage: number;
  total: number;
  error: string;
}

export interface PageAsk {
  page: number;
  pageSize: number;
  sort: SortKey[];
  search: string;
  filters: TableFilters;
}

const num = (x: unknown, fallback: number): number =>
  typeof x === "number" && Number.isFinite(x) ? Math.trunc(x) : fallback;

/** A reply as the grid uses it; anything malformed becomes an error result. */
export function readReply(raw: unknown): PageResult {
  const r = (raw && typeof raw === "object" ? raw : {}) as Partial<PageReply>;
  const rows = Array.isArray(r.rows) ? r.rows.filter((x) => x && typeof x === "object") : [];
  return {
    rows: rows as TableRow[],
    page: Math.max(1, num(r.page, 1)),
    lastPage: Math.max(1, num(r.last_page, 1)),
    total: Math.max(0, num(r.total, 0)),
    error: typeof r.error === "string" ? r.error : "",
  };
}

export class Pager {
  private next = 1;
  private waiting = new Map<number, { resolve: (r: PageResult) => void; timer: ReturnType<typeof setTimeout> }>();
  private readonly listener: (content: unknown) => void;

  constructor(
    private readonly model: AnyModel<State>,
    private readonly timeoutMs = 30_000,
  ) {
    this.listener = (content: unknown) => this.receive(content);
    model.on("msg:custom", this.listener);
  }

  /** Ask the kernel for one page; always settles (an error result on timeout). */
  ask(q: PageAsk): Promise<PageResult> {
    const request_id = this.next++;
    const message: PageRequestMessage = {
      type: "page",
      request_id,
      page: q.page,
      page_size: q.pageSize,
      sort: q.sort,
      search: q.search,
      filters: q.filters,
    };
    return new Promise<PageResult>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(request_id);
        resolve({ ...readReply({}), error: `The kernel did not answer within ${this.timeoutMs / 1000} s.` });
      }, this.timeoutMs);
      this.waiting.set(request_id, { resolve, timer });
      this.model.send(message);
    });
  }

  private receive(content: unknown): void {
    if (!content || typeof content !== "object") return;
    const c = content as { type?: unknown; request_id?: unknown };
    if (c.type !== "page" || typeof c.request_id !== "number") return;
    const entry = this.waiting.get(c.request_id);
    if (!entry) return; // a reply to a request that timed out, or to another view
    this.waiting.delete(c.request_id);
    clearTimeout(entry.timer);
    entry.resolve(readReply(content));
  }

  dispose(): void {
    this.model.off("msg:custom", this.listener);
    for (const { timer } of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
  }
}

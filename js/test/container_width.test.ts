import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { announceWidthChanges } from "../src/lib/container_width";
import widget from "../src/sensitivity_summary";
import { mount } from "./fake_model";
import { ssState } from "./fixtures";

/** A ResizeObserver the test drives: `resize(w)` reports a new content width. */
class FakeObserver {
  static all: FakeObserver[] = [];
  observed: Element[] = [];
  disconnected = false;
  constructor(private readonly callback: ResizeObserverCallback) {
    FakeObserver.all.push(this);
  }
  observe(el: Element): void {
    this.observed.push(el);
  }
  unobserve(): void {}
  disconnect(): void {
    this.disconnected = true;
  }
  resize(width: number): void {
    const entry = { contentRect: { width } } as ResizeObserverEntry;
    this.callback([entry], this as unknown as ResizeObserver);
  }
}

let resizes = 0;
const count = () => (resizes += 1);
let frames: FrameRequestCallback[] = [];
const flush = () => {
  const due = frames;
  frames = [];
  due.forEach((f) => f(0));
};

beforeEach(() => {
  FakeObserver.all = [];
  frames = [];
  resizes = 0;
  vi.stubGlobal("ResizeObserver", FakeObserver);
  vi.spyOn(window, "requestAnimationFrame").mockImplementation((f) => frames.push(f));
  vi.spyOn(window, "cancelAnimationFrame").mockImplementation(() => (frames = []));
  window.addEventListener("resize", count);
});
afterEach(() => {
  window.removeEventListener("resize", count);
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe("announceWidthChanges (Vega's container width follows the column)", () => {
  it("tells the window once per frame when the column gets or changes its width", () => {
    const el = document.createElement("div");
    const stop = announceWidthChanges(el);
    const [observer] = FakeObserver.all;
    expect(observer.observed).toEqual([el]);
    observer.resize(0); // rendered before it is on the page: nothing to tell
    flush();
    expect(resizes).toBe(0);
    observer.resize(640); // attached, or its tab shown
    observer.resize(641); // the same frame: still one event
    flush();
    expect(resizes).toBe(1);
    observer.resize(641); // no change: nothing
    flush();
    expect(resizes).toBe(1);
    observer.resize(0); // hidden again, then shown
    observer.resize(500);
    flush();
    expect(resizes).toBe(2);
    observer.resize(700);
    stop(); // a pending frame is cancelled and the observer let go
    flush();
    expect(resizes).toBe(2);
    expect(observer.disconnected).toBe(true);
  });

  it("does nothing without ResizeObserver", () => {
    vi.stubGlobal("ResizeObserver", undefined);
    const stop = announceWidthChanges(document.createElement("div"));
    expect(FakeObserver.all).toEqual([]);
    stop();
  });

  it("the summary under the chart watches its column and stops when removed", () => {
    const mounted = mount(widget, ssState({}));
    const [observer] = FakeObserver.all;
    expect(observer).toBeDefined();
    observer.resize(480);
    flush();
    expect(resizes).toBe(1);
    mounted.cleanup();
    expect(observer.disconnected).toBe(true);
  });
});

/** Keyboard navigation: ArrowRight / j and ArrowLeft / k, unless the user is typing. */
import { currentIndex, goTo, type Model } from "./state";

function isTypingTarget(t: EventTarget | null): boolean {
  if (!(t instanceof HTMLElement)) return false;
  const tag = t.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || t.isContentEditable;
}

export function navigationKeys(model: Model): (e: KeyboardEvent) => void {
  return (e) => {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || isTypingTarget(e.target)) return;
    if (e.key === "ArrowRight" || e.key === "j") {
      e.preventDefault();
      goTo(model, currentIndex(model) + 1);
    } else if (e.key === "ArrowLeft" || e.key === "k") {
      e.preventDefault();
      goTo(model, currentIndex(model) - 1);
    }
  };
}

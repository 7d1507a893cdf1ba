import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

// vitest runs with the js/ folder as its root.
const srcDir = resolve(__dirname, "..", "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

const FORBIDDEN = [/innerHTML/, /outerHTML/, /insertAdjacentHTML/, /document\.write/, /createContextualFragment/, /DOMParser/, /\beval\s*\(/, /new Function\s*\(/];

describe("source hygiene", () => {
  const sources = files(srcDir).filter((f) => /\.(ts|js|mjs)$/.test(f));

  it("finds the source files", () => {
    expect(sources.length).toBeGreaterThanOrEqual(6);
  });

  it.each(sources.map((f) => [f.slice(srcDir.length + 1), f]))("%s uses no HTML-parsing sinks", (_name, file) => {
    const text = readFileSync(file, "utf8");
    for (const pattern of FORBIDDEN) expect(text, `${file} matches ${pattern}`).not.toMatch(pattern);
  });
});

describe("stylesheet", () => {
  // Every rule starts at one of our own namespaced classes (.rmx-root, or the ipywidgets
  // containers the Python side marks .rmx-explorer / .rmx-sensitivity-chart), so nothing leaks
  // into JupyterLab; a rule may be prefixed by Lab's theme flag (body[data-jp-theme-light=...])
  // to pick colours per theme.
  it("scopes every rule under an .rmx- class", () => {
    const css = readFileSync(join(srcDir, "styles.css"), "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
    const selectors = Array.from(css.matchAll(/([^{}]+)\{/g))
      .map((m) => m[1].trim())
      .filter((s) => !s.startsWith("@"));
    expect(selectors.length).toBeGreaterThan(20);
    for (const group of selectors) {
      for (const sel of group.split(",")) expect(sel.trim(), sel).toMatch(
          /^(body\[data-jp-theme-light="(true|false)"\]\s+)?\.rmx-(root|explorer|sensitivity-chart|study)(\s|$|[.:])/,
        );
    }
  });
});

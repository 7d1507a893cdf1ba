// @ts-check
/**
 * Generate the front end's types (src/lib/contract.ts) from the widget contract
 * (src/contract.json, itself generated from rmx_widgets/widgets/contract), so that the
 * TypeScript and the Python widgets are checked against one declaration.
 * `npm run contract` writes the file; test/contract.test.ts fails when it is out of date.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const SCHEMA_PATH = join(here, "..", "src", "contract.json");
export const TYPES_PATH = join(here, "..", "src", "lib", "contract.ts");

/** @typedef {{ [key: string]: any }} Schema */

/** @param {string} ref */
function refName(ref) {
  const prefix = "#/$defs/";
  if (!ref.startsWith(prefix)) throw new Error(`contract: unsupported $ref ${ref}`);
  return ref.slice(prefix.length);
}

/**
 * The TypeScript type of one schema node; only the shapes rmx_widgets.widgets.contract writes are accepted.
 * @param {Schema} s
 * @returns {string}
 */
export function typeOf(s) {
  if (typeof s.$ref === "string") return refName(s.$ref);
  if (Array.isArray(s.anyOf)) return s.anyOf.map(typeOf).join(" | ");
  if ("const" in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((/** @type {unknown} */ v) => JSON.stringify(v)).join(" | ");
  switch (s.type) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array": {
      const item = typeOf(s.items);
      return /[ |]/.test(item) ? `Array<${item}>` : `${item}[]`;
    }
    case "object":
      if (!s.properties && s.additionalProperties) return `Record<string, ${typeOf(s.additionalProperties)}>`;
  }
  throw new Error(`contract: cannot express ${JSON.stringify(s)} in TypeScript`);
}

/** @param {string | undefined} text */
function doc(text) {
  return text ? `/** ${text} */\n` : "";
}

/**
 * @param {string} name
 * @param {Schema} def
 */
function declaration(name, def) {
  if (Array.isArray(def.enum)) return `${doc(def.description)}export type ${name} = ${typeOf(def)};\n`;
  if (def.type !== "object" || !def.properties) throw new Error(`contract: $defs/${name} is neither an enum nor a record`);
  const required = new Set(def.required ?? []);
  const lines = Object.entries(def.properties).map(
    ([field, s]) => `  ${field}${required.has(field) ? "" : "?"}: ${typeOf(s)};`,
  );
  return `${doc(def.description)}export interface ${name} {\n${lines.join("\n")}\n}\n`;
}

/**
 * The whole of src/lib/contract.ts for a contract.
 * @param {Schema} contract
 * @returns {string}
 */
export function renderTypes(contract) {
  const defs = /** @type {Record<string, Schema>} */ (contract.$defs);
  const widgets = /** @type {Record<string, { state: Schema }>} */ (contract.widgets);
  const out = [
    "// Generated from src/contract.json by scripts/contract_types.mjs (`npm run contract`); do not edit.\n",
    ...Object.entries(defs).map(([name, def]) => declaration(name, def)),
    "/** Each widget's synced traits (its model's state). */",
    "export interface WidgetStates {",
    ...Object.entries(widgets).map(([w, c]) => `  ${w}: ${typeOf(c.state)};`),
    "}\n",
    "/** Each widget's synced trait names, in the contract's order: what its view listens to. */",
    "export const TRAITS = {",
    ...Object.entries(widgets).map(([w, c]) => {
      const names = Object.keys(defs[refName(c.state.$ref)].properties);
      return `  ${w}: [${names.map((n) => JSON.stringify(n)).join(", ")}],`;
    }),
    "} as const satisfies { [W in keyof WidgetStates]: ReadonlyArray<keyof WidgetStates[W]> };",
    "",
  ];
  return out.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderTypes(JSON.parse(readFileSync(SCHEMA_PATH, "utf8")));
  const current = (() => {
    try {
      return readFileSync(TYPES_PATH, "utf8");
    } catch {
      return null;
    }
  })();
  if (current !== text) {
    writeFileSync(TYPES_PATH, text);
    console.log(`wrote ${TYPES_PATH}`);
  }
}

/* A small YAML writer for the studio's forms: mappings, lists, strings, numbers and booleans,
   in the key order given. A string is written plain only when YAML reads it back as the same
   string; otherwise double-quoted (a JSON string is a valid YAML double-quoted scalar). */
"use strict";
window.EmberYaml = (function () {
  const PLAIN = /^[A-Za-z0-9_$][A-Za-z0-9_.\/:@$+-]*(?: [A-Za-z0-9_.\/:@$+()-]+)*$/;
  const SPECIAL = /^(?:true|false|yes|no|on|off|y|n|null|~|[-+]?(?:\d[\d_]*)?\.?\d+(?:e[-+]?\d+)?|0x[0-9a-f]+|0o[0-7]+|\.inf|\.nan)$/i;

  function scalar(value) {
    if (value === null || value === undefined) return "null";
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    const text = String(value);
    if (text !== "" && PLAIN.test(text) && !SPECIAL.test(text)) return text;
    return JSON.stringify(text);
  }

  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }

  function lines(value, indent) {
    const pad = " ".repeat(indent);
    const out = [];
    if (Array.isArray(value)) {
      for (const item of value) {
        if (isObject(item) || Array.isArray(item)) {
          const inner = lines(item, indent + 2);
          out.push(pad + "- " + inner[0].trimStart(), ...inner.slice(1));
        } else out.push(pad + "- " + scalar(item));
      }
      return out;
    }
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined) continue;
      if ((isObject(v) && Object.keys(v).length) || (Array.isArray(v) && v.length)) {
        out.push(pad + scalar(key) + ":", ...lines(v, indent + 2));
      } else if (isObject(v)) out.push(pad + scalar(key) + ": {}");
      else if (Array.isArray(v)) out.push(pad + scalar(key) + ": []");
      else out.push(pad + scalar(key) + ": " + scalar(v));
    }
    return out;
  }

  function dump(value) { return lines(value, 0).join("\n") + "\n"; }

  return { dump, scalar };
})();

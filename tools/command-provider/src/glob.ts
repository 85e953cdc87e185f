// Path globs for local.Command's `assetPaths` / `archivePaths`.
//
// 1.2.1 documents the github.com/gobwas/glob syntax with "/" as separator: `*` (anything but
// "/"), `**` (anything), `?` (one non-"/" character), `[abc]`, `[!abc]`, `[a-z]`, `{a,b}`,
// and `\` to escape. Rules apply in order; a leading `!` makes a rule remove earlier matches.
// Only files are returned (never directories), as paths relative to the working directory.

import * as fs from "node:fs";
import * as path from "node:path";

function escapeRegExp(c: string): string {
    return c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** Compiles one glob into an anchored regular expression source. */
function compile(glob: string, i: { pos: number }, inBraces: boolean): string {
    let re = "";
    while (i.pos < glob.length) {
        const c = glob[i.pos];
        if (inBraces && (c === "," || c === "}")) return re;
        i.pos++;
        switch (c) {
            case "\\":
                if (i.pos < glob.length) re += escapeRegExp(glob[i.pos++]);
                else re += "\\\\";
                break;
            case "*":
                if (glob[i.pos] === "*") {
                    i.pos++;
                    re += ".*";
                } else {
                    re += "[^/]*";
                }
                break;
            case "?":
                re += "[^/]";
                break;
            case "[": {
                const close = glob.indexOf("]", i.pos + 1);
                if (close < 0) throw new Error(`unexpected end of input in glob ${JSON.stringify(glob)}: unclosed '['`);
                let body = glob.slice(i.pos, close);
                i.pos = close + 1;
                let negate = false;
                if (body.startsWith("!")) {
                    negate = true;
                    body = body.slice(1);
                }
                const cls = body.replace(/[\\\]^]/g, "\\$&");
                re += negate ? `[^/${cls}]` : `[${cls}]`;
                break;
            }
            case "{": {
                const alternatives: string[] = [];
                for (;;) {
                    alternatives.push(compile(glob, i, true));
                    if (i.pos >= glob.length) throw new Error(`unexpected end of input in glob ${JSON.stringify(glob)}: unclosed '{'`);
                    const sep = glob[i.pos++];
                    if (sep === "}") break;
                }
                re += `(?:${alternatives.join("|")})`;
                break;
            }
            default:
                re += escapeRegExp(c);
        }
    }
    return re;
}

export interface GlobRule {
    exclude: boolean;
    re: RegExp;
}

export function compileRules(globs: string[]): GlobRule[] {
    return globs.map((g) => {
        const exclude = g.startsWith("!");
        const body = exclude ? g.slice(1) : g;
        return { exclude, re: new RegExp(`^${compile(body, { pos: 0 }, false)}$`) };
    });
}

/** Lists files under `dir` (lexical order, no symlinked directories followed) as "/"-separated relative paths. */
function walk(dir: string, rel = ""): string[] {
    const out: string[] = [];
    const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) out.push(...walk(dir, p));
        else out.push(p);
    }
    return out;
}

/** Applies the rules in order to every file under `dir`; returns the matching relative paths. */
export function globFiles(dir: string, globs: string[]): string[] {
    const rules = compileRules(globs);
    const selected = new Set<string>();
    for (const file of walk(dir)) {
        for (const rule of rules) {
            if (!rule.re.test(file)) continue;
            if (rule.exclude) selected.delete(file);
            else selected.add(file);
        }
    }
    return [...selected].sort();
}

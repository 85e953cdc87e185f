import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot } from "./pulumi-cli";

/**
 * The README's ```sh block that follows `<!-- tested: NAME ... -->`, as its command lines (blank
 * and comment-only lines dropped, trailing comments kept: bash ignores them as a reader's shell
 * does). A marker, not a line number, so the README can grow around the block; the marker also
 * tells whoever edits the block that a test runs it.
 */
export function markedShellBlock(name: string, readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8")): string[] {
    return markedCodeBlock(name, "sh", readme).split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
}

/**
 * The README's fenced block of `lang` that follows `<!-- tested: NAME ... -->`, as its text (the
 * block must follow the marker's own line directly).
 */
export function markedCodeBlock(name: string, lang: string, readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8")): string {
    const marker = `<!-- tested: ${name} `;
    const at = readme.indexOf(marker);
    if (at < 0) throw new Error(`README.md has no ${JSON.stringify(marker)} marker`);
    if (readme.indexOf(marker, at + 1) >= 0) throw new Error(`README.md has two ${JSON.stringify(marker)} markers`);
    const rest = readme.slice(readme.indexOf("\n", at) + 1);
    const m = new RegExp(`^\`\`\`${lang}\n([\\s\\S]*?)\`\`\``).exec(rest);
    if (!m) throw new Error(`the line after README.md's ${JSON.stringify(marker)} must open a \`\`\`${lang} block`);
    return m[1]!;
}

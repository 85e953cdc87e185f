/**
 * Runs every `bench/*.bench.ts` file, in file-name order (`npm run bench`).
 *
 * A bench module either does its work when imported, or exports
 * `run(): void | Promise<void>`, which is awaited here (such modules only run
 * themselves when started directly, via `require.main === module`).
 */
import * as fs from "node:fs";
import * as path from "node:path";

async function main(): Promise<void> {
    const files = fs
        .readdirSync(__dirname)
        .filter((f) => f.endsWith(".bench.ts"))
        .sort();
    for (const file of files) {
        console.log(`\n=== ${file} ===`);
        const mod: unknown = await import(path.join(__dirname, file));
        const run = mod !== null && typeof mod === "object" ? (mod as { run?: unknown }).run : undefined;
        if (typeof run === "function") {
            await (run as () => unknown)();
        }
    }
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});

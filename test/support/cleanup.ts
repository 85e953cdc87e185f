/**
 * Runs every cleanup step even when some fail, then reports all failures at once: a test that
 * changed this machine must undo all it can, not stop at the first step that throws.
 */
export function runCleanupSteps(steps: readonly [string, () => unknown][]): void {
    const errors: string[] = [];
    for (const [what, step] of steps) {
        try {
            step();
        } catch (e) {
            errors.push(`${what}: ${(e as Error).message}`);
        }
    }
    if (errors.length > 0) throw new Error(`cleanup: ${errors.join("; ")}`);
}

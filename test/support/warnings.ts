import * as pulumi from "@pulumi/pulumi";

/**
 * Collects what the program under test says through `pulumi.log.warn`, test by test: call it in
 * a `describe` body; `warnings` is emptied before each test and the real `warn` is back after it.
 */
export function captureWarnings(): { warnings: string[] } {
    const captured = { warnings: [] as string[] };
    const log = pulumi.log as { warn: typeof pulumi.log.warn };
    const originalWarn = log.warn;
    beforeEach(function () {
        captured.warnings = [];
        log.warn = (msg: string) => {
            captured.warnings.push(msg);
            return Promise.resolve();
        };
    });
    afterEach(function () {
        log.warn = originalWarn;
    });
    return captured;
}

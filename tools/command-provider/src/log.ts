// Logging back to the Pulumi engine.
//
// The real provider logs through pulumi-go-provider's logger, attached to the resource's URN:
//   * every line of a command's output (as chosen by `logging`) as an *ephemeral* info
//     message (`InfoStatus`), which the CLI shows in the resource's status column while the
//     command runs, not in the final diagnostics;
//   * dial retries ("Dial 1/10 failed: retrying") the same way;
//   * setenv problems as warnings/errors, which stay in the diagnostics.
// `@pulumi/pulumi`'s log module only knows the engine of a *program*, so the provider keeps its
// own Engine client, built from the engine address the engine passes on the command line.

import * as grpc from "@grpc/grpc-js";
import * as engrpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import * as engproto from "@pulumi/pulumi/proto/engine_pb";

export type Severity = "debug" | "info" | "warning" | "error";

export interface LogSink {
    log(severity: Severity, message: string, urn: string, ephemeral: boolean): Promise<void>;
}

/** A logger bound to one resource operation. */
export class Logger {
    constructor(
        private readonly sink: LogSink,
        readonly urn: string,
    ) {}
    private pending: Promise<void>[] = [];

    private send(severity: Severity, message: string, ephemeral: boolean): void {
        // Logging must never fail an operation: a lost log line is better than a failed deploy.
        this.pending.push(this.sink.log(severity, message, this.urn, ephemeral).catch(() => undefined));
    }
    debug(message: string): void {
        this.send("debug", message, false);
    }
    info(message: string): void {
        this.send("info", message, false);
    }
    warning(message: string): void {
        this.send("warning", message, false);
    }
    error(message: string): void {
        this.send("error", message, false);
    }
    /** Ephemeral status line (the Go provider's `InfoStatus`). */
    status(message: string): void {
        this.send("info", message, true);
    }
    /** Waits until every message sent so far has been delivered (or dropped). */
    async flush(): Promise<void> {
        const p = this.pending;
        this.pending = [];
        await Promise.all(p);
    }
}

/** Splits a byte stream into lines (like Go's bufio.Scanner: "\n" ends a line, a trailing "\r" is dropped). */
export class LineSplitter {
    private buf = "";
    constructor(private readonly onLine: (line: string) => void) {}
    write(chunk: string): void {
        this.buf += chunk;
        let i: number;
        while ((i = this.buf.indexOf("\n")) >= 0) {
            this.emit(this.buf.slice(0, i));
            this.buf = this.buf.slice(i + 1);
        }
    }
    end(): void {
        if (this.buf.length > 0) this.emit(this.buf);
        this.buf = "";
    }
    private emit(line: string): void {
        this.onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
    }
}

const SEVERITY: Record<Severity, engproto.LogSeverity> = {
    debug: engproto.LogSeverity.DEBUG,
    info: engproto.LogSeverity.INFO,
    warning: engproto.LogSeverity.WARNING,
    error: engproto.LogSeverity.ERROR,
};

/** Sends log messages to the engine's Engine gRPC service. */
export class EngineLogSink implements LogSink {
    private readonly client: engrpc.EngineClient;
    constructor(engineAddress: string) {
        this.client = new engrpc.EngineClient(engineAddress, grpc.credentials.createInsecure());
    }
    log(severity: Severity, message: string, urn: string, ephemeral: boolean): Promise<void> {
        const req = new engproto.LogRequest();
        req.setSeverity(SEVERITY[severity]);
        req.setMessage(message);
        req.setUrn(urn);
        req.setEphemeral(ephemeral);
        return new Promise((resolve, reject) => {
            this.client.log(req, (err) => (err ? reject(err) : resolve()));
        });
    }
}

/** Used when the engine gave no address (e.g. the plugin was started by hand): log to stderr. */
export class StderrLogSink implements LogSink {
    async log(severity: Severity, message: string, urn: string): Promise<void> {
        process.stderr.write(`${severity}: ${urn ? `${urn}: ` : ""}${message}\n`);
    }
}

/** What every resource operation gets: its logger and a signal that fires on Cancel. */
export interface OpContext {
    log: Logger;
    signal: AbortSignal;
}

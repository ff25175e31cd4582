// Fuzzes the streaming CSV / pose JSON readers (pose/formats/stream.ts) and the command line (every
// argument list through cli/main.ts's `main`: exit 0/1/2 with a message, never a stack trace).
import { fuzzTests } from "./_run.ts";

fuzzTests(["stream-csv", "stream-pose-json", "cli-args"]);

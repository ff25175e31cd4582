// Fuzzes the CSV and BVH readers and the safetensors reader (in memory, header-only and one-tensor).
import { fuzzTests } from "./_run.ts";

fuzzTests(["csv", "bvh", "safetensors"]);

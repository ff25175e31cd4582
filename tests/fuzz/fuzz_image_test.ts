// Fuzzes the PNG, JPEG and PPM decoders (through decodeImage's format sniffing).
import { fuzzTests } from "./_run.ts";

fuzzTests(["png", "jpeg", "ppm"]);

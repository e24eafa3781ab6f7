#!/usr/bin/env node
// The gantry-data command: `gantry-data prepare ...` and `gantry-data distill ...` (see dispatch.ts).
import { gantryData } from "./dispatch.js";

process.exit(await gantryData(process.argv.slice(2)));

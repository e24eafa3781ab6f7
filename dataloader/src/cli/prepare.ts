#!/usr/bin/env node
// The former entry of gantry-data, kept so `node dist/cli/prepare.js prepare ...` still works; the command itself is
// cli/gantry-data.ts, and `prepare` lives in prepare-command.ts.
import { gantryData } from "./dispatch.js";

process.exit(await gantryData(process.argv.slice(2)));

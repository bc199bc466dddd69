#!/usr/bin/env node
/**
 * `diminuendo`: see `diminuendo --help`.
 */
import * as Cli from "../Cli.js"

Cli.main(process.argv)

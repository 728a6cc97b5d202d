"""The ILMQ workbook: its layout, the template written from it, the guards every received file passes, the reader
that parses a submission, and the bundled sample submissions."""

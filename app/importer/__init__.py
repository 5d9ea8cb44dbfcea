"""`stamgast import`: contacts from a CSV or vCard file, streamed, batched and idempotent.

    sources.py / vcard.py   file -> SourceRecord (raw text, line number)
    rows.py                 SourceRecord -> ContactRow (validated) or a rejection
    numbers.py              raw numbers -> E.164 keys, in worker processes for big files
    matching.py             a batch of rows -> what to insert and update (merging duplicates)
    writer.py               batched reads and writes, COPY on PostgreSQL
    service.py              the orchestration, one transaction per batch
    report.py               the end report and the progress bar

Nothing is imported here: worker processes import `numbers.py` and should not pay for the rest.
"""

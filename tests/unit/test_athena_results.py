"""Athena's result pages are read only as far as the answer needs: a bounded answer stops paging at its limit.
Stubbed (botocore's Stubber, shaped as GetQueryResults documents it): the lab's results fit in one page."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from ops.etl.athena import PAGE, run_query

QUERY_ID = "11111111-2222-3333-4444-555555555555"
COLUMN = {"Name": "n", "Type": "integer", "CatalogName": "hive", "SchemaName": "", "TableName": "", "Label": "n"}


def page(first: int, rows: int, header: bool, more: bool) -> dict:
    data = [{"Data": [{"VarCharValue": "n"}]}] if header else []
    data += [{"Data": [{"VarCharValue": str(first + i)}]} for i in range(rows)]
    answer: dict = {"ResultSet": {"Rows": data, "ResultSetMetadata": {"ColumnInfo": [COLUMN]}}, "UpdateCount": 0}
    if more:
        answer["NextToken"] = f"after-{first + rows}"
    return answer


def stubbed(pages: int, result_pages: int = 5) -> tuple[object, Stubber]:
    """An Athena client stubbed to answer the first `pages` of a result `result_pages` long."""
    athena = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(athena)
    stub.add_response("start_query_execution", {"QueryExecutionId": QUERY_ID})
    stub.add_response("get_query_execution", {"QueryExecution": {
        "QueryExecutionId": QUERY_ID, "Status": {"State": "SUCCEEDED"},
        "Statistics": {"DataScannedInBytes": 10, "TotalExecutionTimeInMillis": 5}}})
    served = 0
    for i in range(pages):
        rows = PAGE - 1 if i == 0 else PAGE  # the first page's first row is the header
        params = {"QueryExecutionId": QUERY_ID, "MaxResults": PAGE}
        if i:
            params["NextToken"] = f"after-{served}"
        stub.add_response("get_query_results", page(served, rows, i == 0, i < result_pages - 1), params)
        served += rows
    return athena, stub


def run(athena: object, max_rows: int | None):  # type: ignore[no-untyped-def]
    return run_query(athena, "SELECT n FROM t", "db", "wg", None, 30, None, progress=lambda _: None,
                     sleep=lambda _: None, max_rows=max_rows)


def test_a_bounded_answer_stops_paging_once_it_has_its_rows() -> None:
    athena, stub = stubbed(2)  # two of the result's five pages hold the 1,001 rows asked for
    with stub:
        answer = run(athena, PAGE + 1)
    assert len(answer.rows) == PAGE + 1 and answer.rows[-1] == (PAGE + 1 - 1,)
    stub.assert_no_pending_responses()  # no third page was asked for


def test_an_unbounded_answer_reads_every_page() -> None:  # the negative control
    athena, stub = stubbed(5)
    with stub:
        answer = run(athena, None)
    assert len(answer.rows) == 5 * PAGE - 1
    stub.assert_no_pending_responses()

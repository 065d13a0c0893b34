"""The lab's S3 judges a TLS-only bucket policy as AWS does for a request over HTTPS."""

from __future__ import annotations

from ops.lab.aws.s3_policy import over_tls

TLS_ONLY = {"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def test_a_deny_of_plain_http_does_not_apply_over_tls_and_other_statements_stay() -> None:
    other = {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"}
    assert over_tls({"Version": "2012-10-17", "Statement": [TLS_ONLY, other]})["Statement"] == [other]


def test_a_statement_for_tls_requests_applies_without_its_condition() -> None:
    allow = dict(TLS_ONLY, Effect="Allow", Condition={"Bool": {"aws:SecureTransport": "true"}})
    (kept,) = over_tls({"Statement": [allow]})["Statement"]
    assert "Condition" not in kept and kept["Effect"] == "Allow"


def test_statements_with_other_conditions_are_left_to_moto() -> None:
    mixed = dict(TLS_ONLY, Condition={"Bool": {"aws:SecureTransport": "false"}, "StringEquals": {"aws:SourceVpc": "vpc-1"}})
    assert over_tls({"Statement": [mixed]})["Statement"] == [mixed]

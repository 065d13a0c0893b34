provider "aws" {
  region = var.region
  # The account dbops checked with STS before apply: any other is refused by the provider itself.
  allowed_account_ids = var.account_id == "" ? null : [var.account_id]

  default_tags {
    tags = { env = "prod", "managed-by" = "dbops" }
  }
}

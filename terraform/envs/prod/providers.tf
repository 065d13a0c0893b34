provider "aws" {
  region = var.region

  default_tags {
    tags = { env = "prod", "managed-by" = "dbops" }
  }
}

"""dbops etl: batch exports of the estate's data into an analytics lake, at a point in time, never from the writer."""

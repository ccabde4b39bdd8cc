"""The travellers' special site (補償対応特設サイト): HTML pages on the same services as the API."""

"""ILOSTAT in and out: published bulk CSV imported as the oldest vintage, a round exported as ILOSTAT CSV and SDMX-CSV."""

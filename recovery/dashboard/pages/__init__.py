"""The dashboard's pages, one module per page family; each adds its routes to the router."""

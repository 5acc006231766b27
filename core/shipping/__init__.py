"""The shipping bounded context: a shipment per order, scheduled, cancelled or dispatched."""

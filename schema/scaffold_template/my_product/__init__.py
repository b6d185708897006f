"""The My product plugin of the Partner Gateway (made by ``gateway plugin new my_product``)."""

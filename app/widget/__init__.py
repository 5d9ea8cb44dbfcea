"""The agent widget: the embeddable `<stamgast-widget>` element and its stand-alone page."""

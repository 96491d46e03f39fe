// placeholder until the viz layer lands

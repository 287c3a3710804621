"""Domain facts shared by the fakes and the load model (domain.md): tax ids, money, sellers."""

"""Liga Sudoers' authored reference data: catalogue, seed customers, places, devices, profiles.

Everything here is written for this course (prices are plausible Brazilian retail prices in BRL, not
scraped from anywhere). The generators read it; `schema.init_oltp` seeds categories, products and
the 20 seed customers from it, so ids are the list positions (categories 1..9, products 1..180).

Coordinates are city centres rounded to ~100 m, good enough for a 7-character geohash (~150 m).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

CATALOGUE_CREATED_AT = datetime(2024, 1, 1, 0, 0, 0)

# The original course's nine categories, in id order (1..9).
CATEGORIAS: list[str] = [
    "Moda Masculina", "Moda Feminina", "Moda Infantil", "Tecnologia", "Veículos", "Construção",
    "Brinquedos", "Supermercado", "Pet",
]

# (category, description, unit price in BRL) — 20 per category; product id = position + 1.
_PRODUTOS_POR_CATEGORIA: dict[str, list[tuple[str, str]]] = {
    "Moda Masculina": [
        ("Camiseta básica de algodão", "39.90"), ("Camisa polo piquet", "89.90"),
        ("Camisa social slim", "129.90"), ("Calça jeans corte reto", "149.90"),
        ("Bermuda de sarja", "79.90"), ("Jaqueta corta-vento", "199.90"),
        ("Moletom com capuz", "159.90"), ("Cueca boxer (kit com 3)", "59.90"),
        ("Meia cano médio (kit com 6)", "34.90"), ("Tênis casual de couro", "249.90"),
        ("Sapato social de couro", "299.90"), ("Chinelo de dedo", "29.90"),
        ("Cinto de couro", "69.90"), ("Boné aba curva", "49.90"),
        ("Terno slim 2 peças", "699.90"), ("Regata dry fit", "44.90"),
        ("Calça de moletom", "99.90"), ("Pijama curto masculino", "79.90"),
        ("Jaqueta jeans masculina", "219.90"), ("Bermuda de praia estampada", "69.90"),
    ],
    "Moda Feminina": [
        ("Vestido midi floral", "179.90"), ("Blusa de viscose", "69.90"),
        ("Calça jeans skinny", "159.90"), ("Saia plissada", "119.90"),
        ("Blazer de alfaiataria", "279.90"), ("Sandália rasteira", "59.90"),
        ("Scarpin salto médio", "199.90"), ("Tênis plataforma", "229.90"),
        ("Bolsa tiracolo", "189.90"), ("Conjunto fitness legging e top", "129.90"),
        ("Biquíni estampado", "99.90"), ("Calcinha de algodão (kit com 5)", "49.90"),
        ("Sutiã sem bojo", "59.90"), ("Pijama de cetim", "119.90"),
        ("Macacão longo", "209.90"), ("Cardigã de tricô", "149.90"),
        ("Shorts jeans feminino", "89.90"), ("Camiseta baby look", "39.90"),
        ("Óculos de sol feminino", "149.90"), ("Brinco folheado a ouro", "39.90"),
    ],
    "Moda Infantil": [
        ("Body de bebê (kit com 3)", "59.90"), ("Macacão de bebê em plush", "69.90"),
        ("Conjunto de moletom infantil", "89.90"), ("Camiseta infantil estampada", "34.90"),
        ("Vestido infantil de festa", "129.90"), ("Bermuda infantil", "44.90"),
        ("Tênis infantil com luz", "119.90"), ("Sandália infantil", "49.90"),
        ("Pijama infantil", "59.90"), ("Jaqueta infantil acolchoada", "139.90"),
        ("Meia antiderrapante (kit com 3)", "29.90"), ("Calça legging infantil", "39.90"),
        ("Maiô infantil com proteção UV", "79.90"), ("Touca e luvas de bebê", "29.90"),
        ("Calça jeans infantil", "79.90"), ("Fantasia de super-herói", "99.90"),
        ("Mochila escolar infantil", "149.90"), ("Pantufa infantil", "49.90"),
        ("Saia de tule infantil", "54.90"), ("Capa de chuva infantil", "59.90"),
    ],
    "Tecnologia": [
        ("Smartphone 128 GB", "1499.00"), ("Notebook 15,6\" 8 GB SSD 256 GB", "3299.00"),
        ("Fone de ouvido Bluetooth", "199.90"), ("Smart TV 50\" 4K", "2599.00"),
        ("Tablet 10\" 64 GB", "1299.00"), ("Mouse sem fio", "79.90"),
        ("Teclado mecânico", "299.90"), ("Monitor 24\" Full HD", "899.00"),
        ("Carregador rápido USB-C", "89.90"), ("Carregador portátil 10000 mAh", "129.90"),
        ("Relógio inteligente", "599.00"), ("Caixa de som Bluetooth", "249.90"),
        ("Roteador Wi-Fi 6", "399.00"), ("SSD externo 1 TB", "549.00"),
        ("Pen drive 64 GB", "49.90"), ("Webcam Full HD", "229.90"),
        ("Console de videogame", "3999.00"), ("Impressora multifuncional", "799.00"),
        ("Cabo HDMI 2 m", "39.90"), ("Cartão microSD 128 GB", "79.90"),
    ],
    "Veículos": [
        ("Pneu aro 14", "379.90"), ("Bateria automotiva 60 Ah", "549.90"),
        ("Óleo de motor sintético 1 L", "49.90"), ("Palheta do limpador (par)", "59.90"),
        ("Jogo de tapetes automotivos", "119.90"), ("Capa para volante", "39.90"),
        ("Central multimídia 2 DIN", "899.00"), ("Câmera de ré", "189.90"),
        ("Aspirador de pó veicular", "149.90"), ("Suporte veicular para celular", "49.90"),
        ("Kit de lâmpadas LED para farol", "159.90"), ("Capacete de moto fechado", "399.90"),
        ("Jaqueta de motociclista", "499.90"), ("Baú para moto 45 L", "349.90"),
        ("Kit relação para moto", "229.90"), ("Pastilha de freio dianteira", "119.90"),
        ("Filtro de ar do motor", "39.90"), ("Cera automotiva 500 g", "44.90"),
        ("Motocicleta 160 cc 0 km", "16990.00"), ("Scooter elétrica 1000 W", "9990.00"),
    ],
    "Construção": [
        ("Cimento CP II 50 kg", "39.90"), ("Argamassa AC-II 20 kg", "24.90"),
        ("Tinta acrílica 18 L", "389.90"), ("Piso porcelanato (m²)", "69.90"),
        ("Furadeira de impacto", "299.90"), ("Parafusadeira a bateria", "399.90"),
        ("Serra circular", "449.90"), ("Jogo de chaves de fenda", "59.90"),
        ("Trena 5 m", "29.90"), ("Nível de bolha", "39.90"),
        ("Torneira de cozinha", "149.90"), ("Chuveiro elétrico", "119.90"),
        ("Vaso sanitário com caixa acoplada", "599.90"), ("Fio elétrico 2,5 mm (rolo 100 m)", "249.90"),
        ("Lâmpada LED 9 W (kit com 10)", "69.90"), ("Escada de alumínio 6 degraus", "289.90"),
        ("Carrinho de mão", "249.90"), ("Rolo de pintura 23 cm", "24.90"),
        ("Caixa d'água 1000 L", "449.90"), ("Fechadura eletrônica", "799.90"),
    ],
    "Brinquedos": [
        ("Blocos de montar 500 peças", "199.90"), ("Boneca articulada", "129.90"),
        ("Carrinho de controle remoto", "249.90"), ("Quebra-cabeça 1000 peças", "79.90"),
        ("Jogo de tabuleiro", "119.90"), ("Urso de pelúcia 40 cm", "89.90"),
        ("Massinha de modelar (kit)", "39.90"), ("Patinete infantil", "229.90"),
        ("Bicicleta infantil aro 16", "599.90"), ("Pista de carrinhos", "159.90"),
        ("Kit médico de brinquedo", "69.90"), ("Cozinha infantil", "349.90"),
        ("Drone infantil", "299.90"), ("Bola de futebol", "79.90"),
        ("Piscina de bolinhas", "189.90"), ("Kit de pintura infantil", "59.90"),
        ("Dinossauro com som", "99.90"), ("Cubo mágico 3x3", "34.90"),
        ("Boneco de ação", "89.90"), ("Teclado musical infantil", "149.90"),
    ],
    "Supermercado": [
        ("Arroz tipo 1 5 kg", "27.90"), ("Feijão carioca 1 kg", "8.49"),
        ("Café torrado e moído 500 g", "19.90"), ("Óleo de soja 900 ml", "7.99"),
        ("Açúcar refinado 1 kg", "4.99"), ("Leite integral 1 L (caixa com 12)", "59.90"),
        ("Macarrão espaguete 500 g", "5.49"), ("Azeite extravirgem 500 ml", "39.90"),
        ("Sabão em pó 1,6 kg", "24.90"), ("Papel higiênico (12 rolos)", "21.90"),
        ("Detergente 500 ml", "2.79"), ("Amaciante 2 L", "18.90"),
        ("Biscoito recheado 130 g", "3.49"), ("Achocolatado em pó 400 g", "9.99"),
        ("Molho de tomate 340 g", "3.29"), ("Farinha de trigo 1 kg", "5.99"),
        ("Creme dental 90 g", "4.99"), ("Xampu 350 ml", "19.90"),
        ("Água mineral 1,5 L (fardo com 6)", "14.90"), ("Cerveja em lata 350 ml (pack com 12)", "49.90"),
    ],
    "Pet": [
        ("Ração para cães adultos 15 kg", "189.90"), ("Ração para gatos adultos 10 kg", "169.90"),
        ("Areia higiênica 4 kg", "24.90"), ("Petisco para cães 500 g", "29.90"),
        ("Coleira ajustável", "34.90"), ("Guia retrátil 5 m", "69.90"),
        ("Cama para cachorro", "129.90"), ("Arranhador para gatos", "149.90"),
        ("Comedouro de inox", "29.90"), ("Bebedouro fonte", "119.90"),
        ("Brinquedo mordedor", "24.90"), ("Antipulgas em comprimido", "89.90"),
        ("Xampu pet 500 ml", "22.90"), ("Caixa de transporte", "159.90"),
        ("Tapete higiênico (30 unidades)", "59.90"), ("Sachê para gatos 85 g", "3.29"),
        ("Mistura de sementes para pássaros 1 kg", "19.90"), ("Aquário 40 L", "299.90"),
        ("Roupinha pet de inverno", "49.90"), ("Vermífugo para cães", "39.90"),
    ],
}

PRODUTOS: list[tuple[str, str, Decimal]] = [
    (cat, desc, Decimal(price))
    for cat in CATEGORIAS
    for desc, price in _PRODUTOS_POR_CATEGORIA[cat]
]


class City(NamedTuple):
    """A city where customers live (HOME_CITIES)."""
    uf: str
    nome: str
    lat: float
    lon: float
    peso: float       # relative weight within its state (roughly population, millions)
    ddd: int          # telephone area code, used for the customer's phone
    raio_km: float    # how far from the centre homes are scattered


# ~10 cities per state: capitals, their metropolitan areas and interior towns.
HOME_CITIES: list[City] = [
    # São Paulo
    City("SP", "São Paulo", -23.5505, -46.6333, 11.5, 11, 12.0),
    City("SP", "Guarulhos", -23.4538, -46.5333, 1.3, 11, 5.0),
    City("SP", "Osasco", -23.5329, -46.7917, 0.7, 11, 3.0),
    City("SP", "São Bernardo do Campo", -23.6914, -46.5646, 0.8, 11, 4.0),
    City("SP", "Santo André", -23.6639, -46.5383, 0.7, 11, 3.0),
    City("SP", "Campinas", -22.9056, -47.0608, 1.2, 19, 6.0),
    City("SP", "Piracicaba", -22.7253, -47.6492, 0.4, 19, 3.0),
    City("SP", "Sorocaba", -23.5015, -47.4526, 0.7, 15, 4.0),
    City("SP", "São José dos Campos", -23.1791, -45.8872, 0.7, 12, 4.0),
    City("SP", "Santos", -23.9535, -46.3350, 0.4, 13, 2.0),
    City("SP", "Ribeirão Preto", -21.1775, -47.8103, 0.7, 16, 4.0),
    City("SP", "Bauru", -22.3246, -49.0871, 0.4, 14, 3.0),
    City("SP", "São José do Rio Preto", -20.8113, -49.3758, 0.5, 17, 3.0),
    # Minas Gerais
    City("MG", "Belo Horizonte", -19.9167, -43.9345, 2.5, 31, 7.0),
    City("MG", "Contagem", -19.9320, -44.0539, 0.7, 31, 3.0),
    City("MG", "Betim", -19.9678, -44.1983, 0.4, 31, 3.0),
    City("MG", "Uberlândia", -18.9186, -48.2772, 0.7, 34, 5.0),
    City("MG", "Uberaba", -19.7472, -47.9381, 0.3, 34, 3.0),
    City("MG", "Juiz de Fora", -21.7642, -43.3503, 0.6, 32, 4.0),
    City("MG", "Montes Claros", -16.7350, -43.8617, 0.4, 38, 3.0),
    City("MG", "Governador Valadares", -18.8511, -41.9494, 0.3, 33, 3.0),
    City("MG", "Ipatinga", -19.4683, -42.5367, 0.3, 31, 3.0),
    City("MG", "Divinópolis", -20.1446, -44.8912, 0.2, 37, 3.0),
    City("MG", "Poços de Caldas", -21.7878, -46.5614, 0.2, 35, 2.0),
    # Rio de Janeiro
    City("RJ", "Rio de Janeiro", -22.9035, -43.2800, 6.7, 21, 10.0),
    City("RJ", "São Gonçalo", -22.8268, -43.0539, 1.1, 21, 4.0),
    City("RJ", "Duque de Caxias", -22.7858, -43.3117, 0.9, 21, 3.0),
    City("RJ", "Nova Iguaçu", -22.7556, -43.4603, 0.8, 21, 4.0),
    City("RJ", "Niterói", -22.8832, -43.1034, 0.5, 21, 3.0),
    City("RJ", "Belford Roxo", -22.7640, -43.3992, 0.5, 21, 2.0),
    City("RJ", "Campos dos Goytacazes", -21.7545, -41.3244, 0.5, 22, 4.0),
    City("RJ", "Petrópolis", -22.5046, -43.1823, 0.3, 24, 3.0),
    City("RJ", "Volta Redonda", -22.5231, -44.1042, 0.3, 24, 3.0),
    City("RJ", "Macaé", -22.3708, -41.7869, 0.3, 22, 3.0),
    City("RJ", "Nova Friburgo", -22.2819, -42.5311, 0.2, 22, 3.0),
]

# Share of customers per home state (roughly the states' populations).
HOME_STATE_WEIGHTS: dict[str, float] = {"SP": 0.55, "MG": 0.25, "RJ": 0.20}
DDD_BY_UF: dict[str, int] = {"SP": 11, "MG": 31, "RJ": 21}


class FraudPlace(NamedTuple):
    """Where fraudulent orders come from: another state (uf) or abroad (uf None)."""
    nome: str
    uf: str | None    # Brazilian state, None when abroad / at sea
    lat: float
    lon: float
    peso: float
    raio_km: float


FRAUD_PLACES: list[FraudPlace] = [
    # The original's three fraud cells: Espírito Santo (7h6v), Mato Grosso (6v2n), Pacific (6m3p).
    FraudPlace("Vitória (ES)", "ES", -20.2976, -40.3300, 3.0, 2.0),
    FraudPlace("Domingos Martins (ES)", "ES", -20.3630, -40.6590, 1.5, 3.0),
    FraudPlace("Cuiabá (MT)", "MT", -15.6014, -56.0979, 2.5, 5.0),
    FraudPlace("Diamantino (MT)", "MT", -14.4086, -56.4461, 1.0, 3.0),
    FraudPlace("Oceano Pacífico ao largo do Peru", None, -14.1504, -77.1680, 1.5, 15.0),
    # Other states.
    FraudPlace("Curitiba (PR)", "PR", -25.4284, -49.2733, 1.5, 5.0),
    FraudPlace("Foz do Iguaçu (PR)", "PR", -25.5163, -54.5854, 1.0, 3.0),
    FraudPlace("Salvador (BA)", "BA", -12.9714, -38.4800, 1.2, 4.0),
    FraudPlace("Brasília (DF)", "DF", -15.7939, -47.8828, 1.2, 5.0),
    FraudPlace("Goiânia (GO)", "GO", -16.6869, -49.2648, 1.0, 5.0),
    FraudPlace("Campo Grande (MS)", "MS", -20.4697, -54.6201, 0.8, 4.0),
    FraudPlace("Ponta Porã (MS)", "MS", -22.5296, -55.7203, 0.6, 2.0),
    FraudPlace("Porto Alegre (RS)", "RS", -30.0500, -51.1800, 0.8, 4.0),
    FraudPlace("Florianópolis (SC)", "SC", -27.5954, -48.5200, 0.6, 2.0),
    FraudPlace("Recife (PE)", "PE", -8.0600, -34.9200, 0.6, 3.0),
    FraudPlace("Manaus (AM)", "AM", -3.0800, -60.0200, 0.5, 4.0),
    # Abroad.
    FraudPlace("Lima (Peru)", None, -12.0464, -77.0428, 0.8, 5.0),
    FraudPlace("Buenos Aires (Argentina)", None, -34.6037, -58.3816, 0.8, 5.0),
    FraudPlace("Assunção (Paraguai)", None, -25.2637, -57.5759, 0.8, 4.0),
    FraudPlace("Ciudad del Este (Paraguai)", None, -25.5097, -54.6300, 0.6, 2.0),
    FraudPlace("Miami (EUA)", None, 25.7617, -80.1918, 0.6, 5.0),
]

# Devices as the shop's audit log names them, with how common each is as someone's main device.
_DISPOSITIVOS: list[tuple[str, float]] = [
    ("Samsung Galaxy A54", 6.0), ("Samsung Galaxy A34", 5.0), ("Samsung Galaxy A14", 6.0),
    ("Samsung Galaxy S23", 2.5), ("Samsung Galaxy M14", 3.0),
    ("Motorola Moto G84", 5.0), ("Motorola Moto G54", 5.0), ("Motorola Moto E22", 3.0),
    ("Motorola Edge 40", 2.0),
    ("Xiaomi Redmi Note 13", 4.5), ("Xiaomi Redmi 12", 3.5), ("Xiaomi Poco X6", 2.0),
    ("iPhone 15", 2.5), ("iPhone 14", 2.5), ("iPhone 13", 3.0), ("iPhone 11", 2.5),
    ("iPhone SE", 1.0), ("Realme C55", 1.5), ("Asus Zenfone 10", 0.5), ("LG K62", 1.0),
    ("Chrome / Windows 11", 5.0), ("Chrome / Windows 10", 4.0), ("Edge / Windows 11", 2.0),
    ("Firefox / Ubuntu", 0.7), ("Safari / macOS", 1.5), ("Chrome / macOS", 1.0),
    ("Safari / iPad", 1.2), ("Chrome / tablet Android", 1.0),
]
DISPOSITIVOS: list[str] = [name for name, _ in _DISPOSITIVOS]
DISPOSITIVO_PESOS: dict[str, float] = dict(_DISPOSITIVOS)

# Age bands of the customer profiles: (lowest age, highest age, label).
AGE_BANDS: list[tuple[int, int, str]] = [
    (18, 25, "18-25"), (26, 40, "26-40"), (41, 60, "41-60"), (61, 200, "61+"),
]

# What each profile buys (as the original: products are chosen by sex × age band).
PERFIS: dict[tuple[str, str], list[str]] = {
    ("M", "18-25"): ["Moda Masculina", "Tecnologia", "Veículos", "Supermercado"],
    ("M", "26-40"): ["Moda Masculina", "Tecnologia", "Veículos", "Construção", "Brinquedos",
                     "Supermercado", "Pet"],
    ("M", "41-60"): ["Moda Masculina", "Tecnologia", "Veículos", "Construção", "Supermercado",
                     "Pet"],
    ("M", "61+"): ["Moda Masculina", "Construção", "Supermercado", "Pet"],
    ("F", "18-25"): ["Moda Feminina", "Tecnologia", "Supermercado", "Pet"],
    ("F", "26-40"): ["Moda Feminina", "Moda Infantil", "Tecnologia", "Brinquedos",
                     "Supermercado", "Pet"],
    ("F", "41-60"): ["Moda Feminina", "Moda Infantil", "Construção", "Supermercado", "Pet"],
    ("F", "61+"): ["Moda Feminina", "Moda Infantil", "Brinquedos", "Supermercado", "Pet"],
}


def age_band(age: int) -> str:
    """Label of the age band an age falls in (ages under 18 count as 18-25)."""
    for _low, high, label in AGE_BANDS:
        if age <= high:
            return label
    return AGE_BANDS[-1][2]


# 20 seed customers present right after `jornada db init`: ids are CPF numbers with valid check
# digits (randomly drawn, belonging to nobody we know of), homes in the cities above.
SEED_PESSOAS: list[dict] = [
    {"id": 60475606523, "nome": "Carlos Eduardo Monteiro", "sexo": "M", "dt_nasc": date(1985, 3, 14),
     "uf": "SP", "cidade": "São Paulo", "geohash": "6gyf49n"},
    {"id": 29510537110, "nome": "Ana Clara Fonseca", "sexo": "F", "dt_nasc": date(2001, 7, 2),
     "uf": "SP", "cidade": "São Paulo", "geohash": "6gycf60"},
    {"id": 88196783140, "nome": "Rafael Tavares", "sexo": "M", "dt_nasc": date(1999, 11, 23),
     "uf": "SP", "cidade": "Campinas", "geohash": "6gyt9n5"},
    {"id": 72100161555, "nome": "Juliana Prado", "sexo": "F", "dt_nasc": date(1978, 5, 30),
     "uf": "SP", "cidade": "Osasco", "geohash": "6gydp5z"},
    {"id": 42615053710, "nome": "João Pedro Azevedo", "sexo": "M", "dt_nasc": date(1957, 1, 9),
     "uf": "SP", "cidade": "Ribeirão Preto", "geohash": "6unp80c"},
    {"id": 31496497732, "nome": "Fernanda Costa Reis", "sexo": "F", "dt_nasc": date(1990, 9, 18),
     "uf": "SP", "cidade": "Santos", "geohash": "6gxp9x7"},
    {"id": 87686816745, "nome": "Marcelo Andrade Lima", "sexo": "M", "dt_nasc": date(1969, 12, 4),
     "uf": "SP", "cidade": "Sorocaba", "geohash": "6gy621w"},
    {"id": 54032926913, "nome": "Mariana Duarte", "sexo": "F", "dt_nasc": date(1995, 4, 27),
     "uf": "SP", "cidade": "São José dos Campos", "geohash": "6gzk5u3"},
    {"id": 91305566432, "nome": "Thiago Nogueira", "sexo": "M", "dt_nasc": date(1988, 8, 11),
     "uf": "MG", "cidade": "Belo Horizonte", "geohash": "7h2y8nr"},
    {"id": 86945884040, "nome": "Beatriz Camargo", "sexo": "F", "dt_nasc": date(1962, 2, 20),
     "uf": "MG", "cidade": "Belo Horizonte", "geohash": "7h2xp6j"},
    {"id": 91456833014, "nome": "Paulo Henrique Freitas", "sexo": "M", "dt_nasc": date(1974, 6, 6),
     "uf": "MG", "cidade": "Uberlândia", "geohash": "6utsm7v"},
    {"id": 38477902500, "nome": "Patrícia Almeida", "sexo": "F", "dt_nasc": date(1983, 10, 15),
     "uf": "MG", "cidade": "Juiz de Fora", "geohash": "7h1hjtc"},
    {"id": 67249817604, "nome": "Gustavo Ribeiro", "sexo": "M", "dt_nasc": date(2003, 3, 3),
     "uf": "MG", "cidade": "Contagem", "geohash": "7h2wte2"},
    {"id": 36324568520, "nome": "Luciana Barros", "sexo": "F", "dt_nasc": date(1951, 12, 25),
     "uf": "MG", "cidade": "Montes Claros", "geohash": "7j0bcck"},
    {"id": 78305853853, "nome": "André Luiz Batista", "sexo": "M", "dt_nasc": date(1992, 5, 19),
     "uf": "RJ", "cidade": "Rio de Janeiro", "geohash": "75cm8wx"},
    {"id": 97250287834, "nome": "Camila Teixeira", "sexo": "F", "dt_nasc": date(1997, 1, 28),
     "uf": "RJ", "cidade": "Rio de Janeiro", "geohash": "75cjjhv"},
    {"id": 88946043733, "nome": "Lucas Moreira", "sexo": "M", "dt_nasc": date(1980, 7, 7),
     "uf": "RJ", "cidade": "Niterói", "geohash": "75cmg4j"},
    {"id": 63504703385, "nome": "Helena Vasconcelos", "sexo": "F", "dt_nasc": date(1966, 11, 1),
     "uf": "RJ", "cidade": "Nova Iguaçu", "geohash": "75cne13"},
    {"id": 48028967787, "nome": "Roberto Carvalho", "sexo": "M", "dt_nasc": date(1949, 4, 12),
     "uf": "RJ", "cidade": "Petrópolis", "geohash": "75crcr5"},
    {"id": 54653926573, "nome": "Sônia Martins", "sexo": "F", "dt_nasc": date(1972, 8, 22),
     "uf": "RJ", "cidade": "Campos dos Goytacazes", "geohash": "7h4s5xs"},
]

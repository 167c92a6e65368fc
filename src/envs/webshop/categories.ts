/**
 * Category templates of the generated WebShop catalog. Attributes and option values are chosen so
 * that no two of a category fuzzy-match each other (token_set_ratio <= 85) and none is a substring
 * of another; test/envs/webshop.test.ts checks both, since the reward matches by those rules.
 */
export interface CategoryTemplate {
  name: string;
  /** Product types (the nouns that decide r_type). */
  nouns: string[];
  attributes: string[];
  /** Option type -> values; every product offers a subset of each. */
  options: Record<string, string[]>;
  /** Price range in dollars. */
  price: [number, number];
}

const COLORS = [
  'black',
  'white',
  'grey',
  'navy',
  'red',
  'green',
  'pink',
  'beige',
  'brown',
  'purple',
  'teal',
  'ivory',
];
const SIZES = ['small', 'medium', 'large', 'xl', 'xxl'];

export const CATEGORIES: CategoryTemplate[] = [
  {
    name: 'shoes',
    nouns: ['running shoes', 'hiking boots', 'sandals', 'sneakers', 'slippers'],
    attributes: [
      'non slip',
      'lightweight',
      'waterproof',
      'memory foam',
      'breathable mesh',
      'arch support',
      'rubber sole',
      'wide toe box',
    ],
    options: { size: ['6', '7', '8', '9', '10', '11', '12'], color: COLORS.slice(0, 8) },
    price: [20, 140],
  },
  {
    name: 'clothing',
    nouns: ['t-shirt', 'hoodie', 'sweatpants', 'polo', 'cardigan', 'jacket'],
    attributes: [
      'cotton',
      'moisture wicking',
      'relaxed fit',
      'machine wash',
      'long sleeve',
      'fleece lined',
      'quick dry',
    ],
    options: { size: SIZES, color: COLORS },
    price: [12, 90],
  },
  {
    name: 'kitchen',
    nouns: ['frying pan', 'saucepan', 'chef knife', 'cutting board', 'mixing bowls', 'dutch oven'],
    attributes: [
      'nonstick',
      'stainless steel',
      'dishwasher safe',
      'oven safe',
      'bpa free',
      'induction compatible',
      'ergonomic handle',
    ],
    options: { size: SIZES.slice(0, 3), color: ['black', 'silver', 'red', 'teal', 'cream'] },
    price: [15, 160],
  },
  {
    name: 'bedding',
    nouns: ['pillow', 'duvet cover', 'sheet set', 'mattress topper', 'throw blanket', 'quilt'],
    attributes: [
      'hypoallergenic',
      'machine washable',
      'cooling',
      'organic cotton',
      'down alternative',
      'deep pocket',
      'wrinkle resistant',
    ],
    options: {
      size: ['twin', 'full', 'queen', 'king'],
      color: ['white', 'grey', 'navy', 'sage', 'blush', 'charcoal'],
    },
    price: [20, 180],
  },
  {
    name: 'audio',
    nouns: ['wireless earbuds', 'headphones', 'bluetooth speaker', 'soundbar', 'turntable'],
    attributes: [
      'noise cancelling',
      'water resistant',
      'long battery life',
      'fast charging',
      'built in microphone',
      'deep bass',
      'foldable',
    ],
    options: { color: ['black', 'white', 'blue', 'rose gold', 'silver'] },
    price: [25, 300],
  },
  {
    name: 'skincare',
    nouns: ['face moisturizer', 'sunscreen', 'serum', 'cleanser', 'lip balm', 'eye cream'],
    attributes: [
      'fragrance free',
      'paraben free',
      'vegan',
      'cruelty free',
      'sensitive skin',
      'hyaluronic acid',
      'spf 50',
    ],
    options: { scent: ['unscented', 'lavender', 'citrus', 'vanilla', 'cucumber'] },
    price: [6, 70],
  },
  {
    name: 'grocery',
    nouns: ['green tea', 'coffee beans', 'protein bars', 'trail mix', 'dark chocolate', 'granola'],
    attributes: [
      'organic',
      'gluten free',
      'sugar free',
      'non gmo',
      'keto friendly',
      'kosher',
      'high protein',
    ],
    options: { flavor: ['original', 'mint', 'honey', 'caramel', 'berry', 'cinnamon'] },
    price: [5, 45],
  },
  {
    name: 'office',
    nouns: ['office chair', 'standing desk', 'bookshelf', 'desk lamp', 'filing cabinet'],
    attributes: [
      'ergonomic',
      'adjustable height',
      'lumbar support',
      'easy assembly',
      'solid wood',
      'dimmable',
      'locking drawers',
    ],
    options: { color: ['black', 'white', 'walnut', 'oak', 'grey'] },
    price: [30, 400],
  },
  {
    name: 'pets',
    nouns: ['dog bed', 'cat tree', 'dog leash', 'pet bowl', 'cat litter', 'chew toy'],
    attributes: [
      'orthopedic',
      'washable cover',
      'chew resistant',
      'reflective',
      'non skid',
      'odor control',
      'durable',
    ],
    options: { size: SIZES.slice(0, 4), color: ['black', 'red', 'blue', 'grey', 'brown'] },
    price: [8, 120],
  },
  {
    name: 'fitness',
    nouns: ['yoga mat', 'dumbbell set', 'resistance bands', 'jump rope', 'water bottle', 'foam roller'],
    attributes: [
      'eco friendly',
      'extra thick',
      'insulated',
      'leak proof',
      'adjustable',
      'anti burst',
      'carrying strap',
    ],
    options: { color: ['black', 'purple', 'blue', 'pink', 'green', 'orange'] },
    price: [10, 150],
  },
  {
    name: 'luggage',
    nouns: ['backpack', 'carry on suitcase', 'duffel bag', 'laptop sleeve', 'tote bag'],
    attributes: [
      'anti theft',
      'usb charging port',
      'expandable',
      'spinner wheels',
      'padded compartment',
      'tsa approved',
      'ultralight',
    ],
    options: { color: ['black', 'navy', 'grey', 'olive', 'burgundy', 'tan'] },
    price: [20, 260],
  },
  {
    name: 'wearables',
    nouns: ['smart watch', 'fitness tracker', 'gps watch', 'smart ring'],
    attributes: [
      'heart rate monitor',
      'sleep tracking',
      'swimproof',
      'week long battery',
      'always on display',
      'contactless payment',
    ],
    options: { band: ['silicone', 'leather', 'nylon', 'metal'], color: ['black', 'silver', 'gold', 'pink'] },
    price: [40, 400],
  },
];

export const BRANDS = [
  'Acme',
  'Brightway',
  'Solano',
  'Zenith',
  'Northpeak',
  'Lumora',
  'Kestrel',
  'Vireo',
  'Halden',
  'Orbis',
  'Tamarind',
  'Quillon',
  'Redfern',
  'Corvid',
  'Maplin',
  'Sundra',
  'Bexley',
  'Arroyo',
  'Pellucid',
  'Fenwick',
  'Glenmore',
  'Ostara',
  'Trivale',
  'Wrenfield',
  'Yarrow',
];

/** Generic sentences that contain no attribute of any category. */
export const GENERIC_FEATURES = [
  'Designed for everyday use',
  'Backed by a one year warranty',
  'Ships in recyclable packaging',
  'A great gift for family and friends',
  'Simple to set up out of the box',
  'Made to last with quality materials',
];

export const REVIEW_TEMPLATES = [
  'Exactly as described.',
  'Good value for the price.',
  'Arrived quickly and works well.',
  'Would buy again.',
  'Not bad, but the packaging was damaged.',
  'My family loves it.',
  'Better than the one I had before.',
  'Took a while to arrive.',
];
